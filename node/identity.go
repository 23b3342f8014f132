package node

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// identityMode keeps the private key readable by its owner only.
const identityMode = 0o600

// LoadOrCreateIdentity reads the libp2p private key at path (the
// crypto.MarshalPrivateKey encoding), or, when no file exists there, creates
// one with CreateIdentity. A file that cannot be decoded is an error, never
// replaced.
func LoadOrCreateIdentity(path string) (crypto.PrivKey, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		return decodeIdentity(path, data)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read identity: %w", err)
	}
	return CreateIdentity(path)
}

// LoadIdentity reads the private key at path, which must exist: a key made
// ahead (dhtnode identity new), for instance a mounted Kubernetes Secret.
// It never writes the file.
func LoadIdentity(path string) (crypto.PrivKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read identity: %w", err)
	}
	return decodeIdentity(path, data)
}

// CreateIdentity generates an Ed25519 key and writes it to path with mode
// 0600. The containing directory must exist and path must not.
func CreateIdentity(path string) (crypto.PrivKey, error) {
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate identity: %w", err)
	}
	data, err := crypto.MarshalPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode identity: %w", err)
	}
	if err := writeNewFile(path, data, identityMode); err != nil {
		return nil, fmt.Errorf("write identity: %w", err)
	}
	return priv, nil
}

func decodeIdentity(path string, data []byte) (crypto.PrivKey, error) {
	priv, err := crypto.UnmarshalPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("identity %s is corrupt (%v); restore it from a backup, or remove it to start with a new peer ID", path, err)
	}
	return priv, nil
}

// writeNewFile writes data to a file that must not exist yet, so two
// processes creating an identity at once cannot overwrite each other.
func writeNewFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}
