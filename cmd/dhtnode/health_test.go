package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestHealthCommand(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
			w.WriteHeader(http.StatusOK)
		case r.URL.Path == "/readyz" && ready.Load():
			w.WriteHeader(http.StatusOK)
		case r.URL.Path == "/readyz":
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()

	if res := dhtnode(t, "health", "--api", srv.URL); res.code != exitOK || res.stdout != "ok\n" {
		t.Fatalf("health of a serving node: %+v", res)
	}
	res := dhtnode(t, "health", "--api", srv.URL, "--ready")
	if res.code != exitFailed || !strings.Contains(res.stderr, "/readyz answered HTTP 503") {
		t.Fatalf("health --ready of an unready node: %+v", res)
	}
	ready.Store(true)
	if res := (invocation{environ: []string{"DHTNODE_API=" + srv.URL}}).dhtnode(t, "health", "--ready"); res.code != exitOK {
		t.Fatalf("health --ready of a ready node, API from the environment: %+v", res)
	}
	if res := dhtnode(t, "health", "--api", srv.URL, "--timeout", "0s"); res.code != exitUsage {
		t.Fatalf("health --timeout 0s: %+v", res)
	}
}

func TestHealthCommandUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	res := dhtnode(t, "health", "--api", url)
	if res.code != exitFailed || !strings.Contains(res.stderr, url+"/healthz") {
		t.Fatalf("health of a stopped node: %+v", res)
	}
}
