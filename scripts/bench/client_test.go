package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAPIClientAgainstAServer(t *testing.T) {
	store := map[string][]byte{}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /v1/values/{key...}", func(w http.ResponseWriter, r *http.Request) {
		store[r.PathValue("key")], _ = io.ReadAll(r.Body)
	})
	mux.HandleFunc("GET /v1/values/{key...}", func(w http.ResponseWriter, r *http.Request) {
		v, ok := store[r.PathValue("key")]
		if !ok {
			http.Error(w, `{"error":"not found","code":"not_found"}`, http.StatusNotFound)
			return
		}
		_, _ = w.Write(v)
	})
	mux.HandleFunc("GET /v1/local/{key...}", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := store[r.PathValue("key")]; !ok {
			w.WriteHeader(http.StatusNotFound)
		}
	})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"peer_id":"12D3KooWx","routing_table":{"size":7,"buckets":[]},`+
			`"replication":{"reads_total":9,"hedged_reads_total":2,"audits_total":3,"repairs_total":1}}`)
	})
	mux.HandleFunc("GET /v1/replicas/{key...}", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"key":"a","version":1,"holders":[{"peer_id":"p1","has":true},{"peer_id":"p2","has":false}]}`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := NewAPIClient(8)
	defer c.CloseIdle()
	ctx := context.Background()

	key := "dir/a b?%" // needs escaping; "/" must survive as part of the key
	if err := c.Put(ctx, srv.URL, key, []byte("v1")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, srv.URL, key); err != nil || string(got) != "v1" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	_, err := c.Get(ctx, srv.URL, "missing")
	if herr, ok := err.(*HTTPError); !ok || herr.Status != http.StatusNotFound {
		t.Fatalf("Get missing: %v", err)
	}
	if has, err := c.HasLocal(ctx, srv.URL, key); err != nil || !has {
		t.Fatalf("HasLocal = %v, %v", has, err)
	}
	if has, err := c.HasLocal(ctx, srv.URL, "missing"); err != nil || has {
		t.Fatalf("HasLocal missing = %v, %v", has, err)
	}
	st, err := c.Status(ctx, srv.URL)
	if err != nil || st.PeerID != "12D3KooWx" || st.RoutingTable.Size != 7 {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if want := (ReplicationCounters{Reads: 9, Hedged: 2, Audits: 3, Repairs: 1}); st.Replication == nil || *st.Replication != want {
		t.Fatalf("Status replication = %+v, want %+v", st.Replication, want)
	}
	if c.Ready(ctx, srv.URL+"/nowhere") {
		t.Fatal("Ready of a 404 route: want false")
	}

	live := []*Node{{PeerID: "p1", Alive: true}, {PeerID: "p3", Alive: true}}
	via := &Node{API: srv.URL}
	if n, err := (dhtnodeSystem{}).LiveReplicas(ctx, c, "a", via, live); err != nil || n != 1 {
		t.Fatalf("dhtnode LiveReplicas = %d, %v; want 1 (p1 has it and is alive)", n, err)
	}
	bl := []*Node{{API: srv.URL}, {API: srv.URL}}
	if n, err := (baselineSystem{}).LiveReplicas(ctx, c, key, nil, bl); err != nil || n != 2 {
		t.Fatalf("baseline LiveReplicas = %d, %v; want 2", n, err)
	}
}

func TestSystemCommands(t *testing.T) {
	spec := NodeSpec{Index: 3, Dir: "/tmp/n3", P2PPort: 7103, APIPort: 8103, Bootstrap: "/ip4/127.0.0.1/tcp/7100/p2p/X"}
	d := dhtnodeSystem{bin: "bin/dhtnode", extra: []string{"--replication-factor", "5"}}.Command(spec)
	want := "bin/dhtnode run --data-dir /tmp/n3/data --listen /ip4/127.0.0.1/tcp/7103 --api 127.0.0.1:8103 " +
		"--bootstrap /ip4/127.0.0.1/tcp/7100/p2p/X --replication-factor 5"
	if got := strings.Join(d, " "); got != want {
		t.Errorf("dhtnode:\n got %s\nwant %s", got, want)
	}
	spec.Bootstrap = ""
	b := baselineSystem{bin: "bin/baseline"}.Command(spec)
	if got := strings.Join(b, " "); got != "bin/baseline -listen /ip4/127.0.0.1/tcp/7103 -api 127.0.0.1:8103" {
		t.Errorf("baseline: %s", got)
	}
}
