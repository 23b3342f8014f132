package main

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSelfCPUCountsThisProcess(t *testing.T) {
	before := selfCPU()
	sum := sha256.Sum256(nil)
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
		sum = sha256.Sum256(sum[:])
	}
	if got := selfCPU() - before; got < 10*time.Millisecond {
		t.Fatalf("50 ms of hashing counted %v of CPU", got)
	}
}

func TestFetchProfileWritesTheBodyAndRejectsErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debug/pprof/profile" || r.URL.Query().Get("seconds") != "3" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("profile bytes"))
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "node.pprof")
	if err := fetchProfile(context.Background(), srv.URL, 3*time.Second, path); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "profile bytes" {
		t.Fatalf("wrote %q, %v", data, err)
	}
	err := fetchProfile(context.Background(), srv.URL, 4*time.Second, path)
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("a 404 gave %v", err)
	}
}
