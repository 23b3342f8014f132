package node_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

// logBuffer is a logger whose output a test can read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// A second node on a data dir in use fails with an error that names the
// process holding it, not LevelDB's "resource temporarily unavailable".
func TestDataDirInUse(t *testing.T) {
	dir := t.TempDir()
	startNode(t, dir, 0, nil)
	cfg := testnet.Local(dir, 0)
	cfg.Listen = testnet.Local(dir, 1).Listen
	n, err := node.New(cfg, testnet.Logger())
	if err == nil {
		n.Close()
		t.Fatal("a second node opened a data dir in use")
	}
	want := "in use by another dhtnode (pid " + strconv.Itoa(os.Getpid()) + ")"
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

// A data dir that was used before but lost identity.key starts with a new
// peer ID and says so loudly; a key others can read gets a warning.
func TestIdentityKeyWarnings(t *testing.T) {
	dir := t.TempDir()
	cfg := testnet.Local(dir, 0)
	first, err := node.New(cfg, testnet.Logger())
	if err != nil {
		t.Fatal(err)
	}
	oldID := first.PeerID()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(cfg.DataDir, node.IdentityFile)

	var logs logBuffer
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(cfg, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "readable by other users") || !strings.Contains(logs.String(), "0644") {
		t.Errorf("no warning for a 0644 key:\n%s", logs.String())
	}

	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	logs = logBuffer{}
	n, err = node.New(cfg, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	newID := n.PeerID()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if newID == oldID {
		t.Fatal("the peer ID survived a deleted key")
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "IDENTITY KEY MISSING") {
		t.Errorf("a used data dir without its key was not logged loudly:\n%s", logs.String())
	}

	// A fresh data dir creates its key quietly.
	logs = logBuffer{}
	n, err = node.New(testnet.Local(dir, 1), logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "IDENTITY") || strings.Contains(logs.String(), "readable") {
		t.Errorf("a fresh data dir logged a key problem:\n%s", logs.String())
	}
}

// A fresh node that joins through its bootstrap peer neither logs nor
// counts a re-bootstrap.
func TestFreshNodeDoesNotRebootstrap(t *testing.T) {
	dir := t.TempDir()
	boot := startNode(t, dir, 0, nil)
	var logs logBuffer
	cfg := testnet.Local(dir, 1)
	cfg.Bootstrap = []peer.AddrInfo{{ID: boot.PeerID(), Addrs: boot.Host().Addrs()}}
	n, err := node.New(cfg, logs.logger())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !n.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("the fresh node did not join")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Two probe intervals: the re-bootstrap check runs on that ticker.
	deadline = time.Now().Add(2*cfg.Routing.ProbeInterval + time.Second)
	for time.Now().Before(deadline) {
		st, err := node.NewClient(n.APIURL(), "").Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.RoutingTable.Rebootstraps != 0 || strings.Contains(logs.String(), "re-bootstrapping") {
			t.Fatalf("a healthy fresh node re-bootstrapped (%d):\n%s", st.RoutingTable.Rebootstraps, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
