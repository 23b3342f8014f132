package node

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// lockFile in the data dir is held (flock) by the dhtnode that uses the
// directory, and holds its process ID.
const lockFile = "dhtnode.lock"

// lockDataDir takes the data dir for this process: a second dhtnode on the
// same directory gets an error naming the process that has it, instead of
// LevelDB's "resource temporarily unavailable". The lock ends with the
// process or when the returned file is closed.
func lockDataDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		data, _ := os.ReadFile(path)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := "another process"
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(data))); perr == nil {
				holder = "pid " + strconv.Itoa(pid)
			}
			return nil, fmt.Errorf("data dir %s is in use by another dhtnode (%s); give each node its own --data-dir", dir, holder)
		}
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	// The process ID only makes the error above more helpful.
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}

// checkIdentity warns about the identity key before it is loaded: a key
// that others can read, and a missing key in a data dir that was used
// before, which makes this start a new peer ID (peers and holders knew the
// old one) and deserves more than a silent new key.
func checkIdentity(dir, keyPath string, logger *slog.Logger) {
	info, err := os.Stat(keyPath)
	switch {
	case err == nil:
		if perm := info.Mode().Perm(); perm&0o077 != 0 {
			logger.Warn("identity key is readable by other users; anyone who reads it can act as this peer: chmod 600 it",
				"path", keyPath, "mode", fmt.Sprintf("%04o", perm))
		}
		return
	case !errors.Is(err, os.ErrNotExist):
		return // LoadOrCreateIdentity reports it
	}
	var used []string
	for _, name := range []string{peersFile, datastoreDir} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			used = append(used, name)
		}
	}
	if len(used) > 0 {
		logger.Error("IDENTITY KEY MISSING from a data dir that was used before: starting with a NEW peer ID; "+
			"restore identity.key from a backup to keep the old one", "path", keyPath, "found", strings.Join(used, ", "))
	}
}
