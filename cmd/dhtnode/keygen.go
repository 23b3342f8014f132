package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/dhtnode/dhtnode/node"
)

func (a *app) newKeygenCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen --out FILE",
		Short: "Create an Ed25519 key file for signing writes locally; print its peer ID",
		Long: `keygen writes a new Ed25519 private key to FILE (mode 0600, never
overwriting a file) in the format of a node's identity.key, and prints its
peer ID. The keys "@<peer ID>/<name>" belong to it: write them with
"dhtnode put --identity FILE" and "dhtnode del --identity FILE" through any
node, which cannot alter or forge what it forwards.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if out == "" {
				return usageError{errors.New("--out FILE is required")}
			}
			if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
				return usageError{fmt.Errorf("%s exists; keygen never overwrites a key", out)}
			}
			priv, err := node.LoadOrCreateIdentity(out)
			if err != nil {
				return err
			}
			id, err := peer.IDFromPrivateKey(priv)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(a.stdout, id)
			return err
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the key to")
	return cmd
}

// loadSigningKey reads a key file written by keygen (or a node's identity.key).
func loadSigningKey(path string) (crypto.PrivKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError{fmt.Errorf("--identity: %w", err)}
	}
	priv, err := crypto.UnmarshalPrivateKey(data)
	if err != nil {
		return nil, usageError{fmt.Errorf("--identity %s is not a key file: %v", path, err)}
	}
	return priv, nil
}
