package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/dhtnode/dhtnode/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// result is what one in-process dhtnode invocation produced.
type result struct {
	code           int
	stdout, stderr string
}

// invocation describes one in-process dhtnode run.
type invocation struct {
	stdin   string
	environ []string
}

// dhtnode runs the command line args in-process, as main would.
func (inv invocation) dhtnode(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(inv.stdin), &stdout, &stderr, inv.environ)
	return result{code, stdout.String(), stderr.String()}
}

// dhtnode runs args with empty stdin and environment.
func dhtnode(t *testing.T, args ...string) result {
	t.Helper()
	return invocation{}.dhtnode(t, args...)
}

// syncBuffer is a bytes.Buffer that a running daemon writes to while the
// test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
