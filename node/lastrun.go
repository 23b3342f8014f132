package node

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dhtnode/dhtnode/replication"
)

// lastRunFile in the data dir holds the last time the node was known to
// run (RFC 3339), rewritten every lastRunTick and at shutdown. A node that
// starts more than replication.tombstone_ttl after it sets its records
// aside until it has settled them with the network (replication/stale.go),
// so that it cannot bring back values deleted while it was down.
const (
	lastRunFile = "last-run"
	lastRunTick = time.Minute
)

// readLastRun returns the time in path; zero when there is none (a first
// start, or a data dir from a version without the file) or it is unreadable.
func readLastRun(path string) time.Time {
	data, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(data)))
	if err != nil {
		return time.Time{}
	}
	return t
}

// writeLastRun records now in path, atomically.
func writeLastRun(path string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(time.Now().UTC().Format(time.RFC3339Nano)+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// setAsideAfterDowntime sets the store's records aside when the last run
// recorded in path ended more than ttl ago, then records this start. A file
// that cannot be written (a read-only data dir) is logged, not fatal: the
// node then runs without the guard, and it returns nil.
func setAsideAfterDowntime(ctx context.Context, path string, ttl time.Duration, store *replication.Store, n *Node) (*lastRunStamper, error) {
	if last := readLastRun(path); !last.IsZero() && time.Since(last) > ttl {
		moved, err := store.SetAside(ctx)
		if err != nil {
			return nil, fmt.Errorf("set records aside after a long downtime: %w", err)
		}
		n.logger.Warn("down longer than replication.tombstone_ttl: records set aside until settled with the network",
			"last_run", last, "tombstone_ttl", ttl, "records", moved)
	}
	if err := writeLastRun(path); err != nil {
		n.logger.Warn("cannot record the last run: a downtime longer than replication.tombstone_ttl will not be noticed", "error", err)
		return nil, nil
	}
	return &lastRunStamper{path: path, stop: make(chan struct{})}, nil
}

// lastRunStamper rewrites the last-run file until stopped.
type lastRunStamper struct {
	path string
	stop chan struct{}
	once sync.Once
}

// run rewrites the file every lastRunTick until stop is closed.
func (s *lastRunStamper) run(n *Node) {
	tick := time.NewTicker(lastRunTick)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			if err := writeLastRun(s.path); err != nil {
				n.logger.Warn("recording the last run", "error", err)
			}
		}
	}
}

// close stops run and records the time of shutdown. Safe on nil.
func (s *lastRunStamper) close(n *Node) {
	if s == nil {
		return
	}
	s.once.Do(func() {
		close(s.stop)
		if err := writeLastRun(s.path); err != nil {
			n.logger.Warn("recording the last run", "error", err)
		}
	})
}
