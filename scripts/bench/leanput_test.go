package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The lean client's PUTs reach a net/http server as net/http's do, reuse
// their connection, and report a non-2xx answer as an *HTTPError.
func TestLeanPutsSpeakHTTP(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPut || r.Header.Get("Content-Type") != "application/octet-stream" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if r.URL.Path == "/v1/values/full" {
			http.Error(w, "no room", http.StatusInsufficientStorage)
			return
		}
		mu.Lock()
		got[r.URL.Path] = string(body)
		mu.Unlock()
		w.Write([]byte(`{"version":1}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	p := newLeanPuts(4)
	defer p.closeIdle()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, k := range []string{"a", "b/c d", "e"} {
		if err := p.Put(ctx, srv.URL, k, []byte("v-"+k)); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	if got["/v1/values/a"] != "v-a" || got["/v1/values/b/c d"] != "v-b/c d" || len(got) != 3 {
		t.Errorf("server got %q", got)
	}
	mu.Unlock()
	if n := conns.Load(); n != 1 {
		t.Errorf("3 serial puts used %d connections, not 1", n)
	}
	var herr *HTTPError
	if err := p.Put(ctx, srv.URL, "full", []byte("x")); !errors.As(err, &herr) || herr.Status != http.StatusInsufficientStorage || herr.Body != "no room\n" {
		t.Fatalf("a 507 gave %v", err)
	}
	// The server closes the idle connection: the next put goes out again
	// on a new one.
	srv.CloseClientConnections()
	if err := p.Put(ctx, srv.URL, "after", []byte("v")); err != nil {
		t.Fatalf("put after the server closed the idle connection: %v", err)
	}
}
