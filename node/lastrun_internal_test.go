package node

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The last-run file reads back as the time it was written; a missing or
// garbled one reads as zero (no downtime known), never as an error.
func TestLastRunFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), lastRunFile)
	if got := readLastRun(path); !got.IsZero() {
		t.Fatalf("missing file read as %v", got)
	}
	before := time.Now()
	if err := writeLastRun(path); err != nil {
		t.Fatal(err)
	}
	if got := readLastRun(path); got.Before(before.Add(-time.Millisecond)) || got.After(time.Now()) {
		t.Fatalf("read %v, written between %v and now", got, before)
	}
	if err := os.WriteFile(path, []byte("yesterday"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := readLastRun(path); !got.IsZero() {
		t.Fatalf("garbled file read as %v", got)
	}
}
