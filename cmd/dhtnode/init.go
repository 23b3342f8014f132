package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/node"
)

// configFile is the name of the config file in a data directory.
const configFile = "config.yaml"

func (a *app) newInitCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a data directory with a commented config.yaml and an identity; print the peer ID",
		Long: `init creates the data directory (mode 0700) with a commented config.yaml
holding every key at its default, and identity.key, the node's Ed25519 key
(mode 0600). Files that exist already are kept. The peer ID goes to stdout,
everything else to stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := a.dataDir(cmd.Flags())
			if err != nil {
				return err
			}
			id, err := a.initDataDir(dir)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(a.stdout, id)
			return err
		},
	}
	cmd.Flags().String("data-dir", "", "data directory (default $"+config.EnvName("data_dir")+" or "+config.DefaultDataDir+")")
	return cmd
}

// dataDir resolves the data directory: --data-dir when set, else
// $DHTNODE_DATA_DIR, else the default, with ~ expanded.
func (a *app) dataDir(flags *pflag.FlagSet) (string, error) {
	cfg := config.Default()
	value := a.getenv(config.EnvName("data_dir"))
	if flags.Changed("data-dir") {
		value = flags.Lookup("data-dir").Value.String()
	}
	if value != "" {
		if err := cfg.Set("data_dir", value); err != nil {
			return "", err
		}
	}
	if cfg.DataDir == "" {
		return "", usageError{errors.New("--data-dir must not be empty")}
	}
	return cfg.DataDir, nil
}

// initDataDir creates dir, its config file and its identity, keeping what
// exists, and returns the peer ID.
func (a *app) initDataDir(dir string) (peer.ID, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create data directory: %w", err)
	}
	cfgPath := filepath.Join(dir, configFile)
	switch _, err := os.Stat(cfgPath); {
	case errors.Is(err, fs.ErrNotExist):
		if err := config.WriteDefaultFile(cfgPath, dir); err != nil {
			return "", err
		}
		fmt.Fprintf(a.stderr, "wrote %s\n", cfgPath)
	case err != nil:
		return "", fmt.Errorf("config file: %w", err)
	default:
		fmt.Fprintf(a.stderr, "kept existing %s\n", cfgPath)
	}
	keyPath := filepath.Join(dir, node.IdentityFile)
	_, statErr := os.Stat(keyPath)
	priv, err := node.LoadOrCreateIdentity(keyPath)
	if err != nil {
		return "", err
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("identity %s: %w", keyPath, err)
	}
	if statErr == nil {
		fmt.Fprintf(a.stderr, "kept existing %s\n", keyPath)
	} else {
		fmt.Fprintf(a.stderr, "wrote %s\n", keyPath)
	}
	return id, nil
}
