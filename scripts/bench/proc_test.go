package main

import (
	"path/filepath"
	"testing"
	"time"
)

func TestProcessGroupKillsWhatItStarted(t *testing.T) {
	var g ProcessGroup
	dir := t.TempDir()
	a, err := g.Start([]string{"sleep", "60"}, filepath.Join(dir, "a.log"))
	if err != nil {
		t.Skipf("no sleep binary: %v", err)
	}
	// b starts a grandchild; killing the process group must reach it too.
	b, err := g.Start([]string{"sh", "-c", "sleep 60 & wait"}, filepath.Join(dir, "b.log"))
	if err != nil {
		t.Fatal(err)
	}
	if exited, _ := a.Exited(); exited {
		t.Fatal("a exited early")
	}
	if err := g.Kill(a); err != nil {
		t.Fatal(err)
	}
	if exited, _ := a.Exited(); !exited {
		t.Fatal("a still running after Kill")
	}
	start := time.Now()
	if err := g.KillAll(); err != nil {
		t.Fatal(err)
	}
	if exited, _ := b.Exited(); !exited {
		t.Fatal("b still running after KillAll")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("KillAll was slow")
	}
	if err := g.KillAll(); err != nil {
		t.Fatalf("second KillAll: %v", err)
	}
}
