package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/node"
)

// fakeNode is a scripted HTTP API: a small in-memory key-value map with the
// node's routes and error replies, recording the last request it saw.
type fakeNode struct {
	*httptest.Server
	mu      sync.Mutex
	values  map[string]string
	version uint64
	batches int // POST /v1/values requests seen
	limited int // POST /v1/values requests to answer 429 before serving
	last    *http.Request
	body    string
}

func newFakeNode(t *testing.T) *fakeNode {
	t.Helper()
	f := &fakeNode{values: map[string]string{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeNode) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last, f.body = r, string(body)
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	key, isValue := strings.CutPrefix(r.URL.Path, "/v1/values/")
	switch {
	case r.Header.Get("Authorization") == "Bearer wrong":
		reply(http.StatusUnauthorized, node.ErrorResponse{Error: "missing or wrong API token", Code: node.CodeUnauthorized})
	case r.URL.Path == "/v1/values" && r.Method == http.MethodPost && f.limited > 0:
		f.limited--
		w.Header().Set("Retry-After", "1")
		reply(http.StatusTooManyRequests, node.ErrorResponse{Error: "over api.rate_limit", Code: node.CodeRateLimited})
	case r.URL.Path == "/v1/values" && r.Method == http.MethodPost:
		f.batches++
		var req node.BatchPutRequest
		if json.Unmarshal(body, &req) != nil {
			reply(http.StatusBadRequest, node.ErrorResponse{Error: "bad batch", Code: node.CodeBadRequest})
			return
		}
		out := node.BatchPutResponse{}
		seen := map[string]bool{}
		for _, e := range req.Values {
			if seen[e.Key] {
				reply(http.StatusBadRequest, node.ErrorResponse{Error: "key twice", Code: node.CodeBadRequest})
				return
			}
			seen[e.Key] = true
			if e.Key == "quorum" {
				out.Results = append(out.Results, node.BatchResult{Key: e.Key, Error: "write quorum not reached", Code: node.CodeInsufficientReplicas, Status: 503, Acks: 1, Needed: 2})
				continue
			}
			f.version++
			f.values[e.Key] = string(e.Value)
			out.Results = append(out.Results, node.BatchResult{Key: e.Key, Version: f.version, Acks: 3, Replicas: 5})
		}
		reply(http.StatusOK, out)
	case isValue && r.Method == http.MethodPut && key == "quorum":
		acks, needed := 1, 2
		reply(http.StatusServiceUnavailable, node.ErrorResponse{Error: "write quorum not reached", Code: node.CodeInsufficientReplicas, Acks: &acks, Needed: &needed})
	case isValue && r.Method == http.MethodPut:
		f.version++
		f.values[key] = string(body)
		reply(http.StatusOK, node.PutResponse{Key: key, Version: f.version, Acks: 3, Replicas: 5})
	case isValue && r.Method == http.MethodGet:
		v, ok := f.values[key]
		if !ok {
			reply(http.StatusNotFound, node.ErrorResponse{Error: "not found", Code: node.CodeNotFound})
			return
		}
		w.Header().Set(node.HeaderVersion, "7")
		_, _ = io.WriteString(w, v)
	case isValue && r.Method == http.MethodDelete:
		delete(f.values, key)
		reply(http.StatusOK, node.DeleteResponse{Key: key, Version: 8, Acks: 2})
	case r.URL.Path == "/v1/status":
		sweep := time.Now().Add(-3 * time.Second)
		reply(http.StatusOK, node.StatusResponse{
			PeerID: "12D3KooWSelf", Network: "testnet", Version: "0.1.0", Ready: true,
			Addrs:        []string{"/ip4/127.0.0.1/tcp/4101/p2p/12D3KooWSelf", "/ip4/127.0.0.1/udp/4101/quic-v1/p2p/12D3KooWSelf"},
			RoutingTable: node.RoutingTableState{Size: 4, Buckets: []node.BucketState{{Index: 0, Peers: 3}, {Index: 1, Peers: 0}, {Index: 2, Peers: 1}}},
			Records:      node.RecordsState{Count: 10, Bytes: 1234, UnderReplicated: 1},
			Replication:  node.ReplicationState{Factor: 8, WriteQuorum: "majority", ReadQuorum: "2", RepairsTotal: 6, LastSweep: &sweep},
		})
	case r.URL.Path == "/v1/peers":
		seen := time.Now().Add(-time.Second)
		reply(http.StatusOK, []node.PeerResponse{
			{PeerID: "12D3KooWPeerA", Bucket: 0, Connected: true, RTTMillis: 1.25, LastSeen: &seen},
			{PeerID: "12D3KooWPeerB", Bucket: 3},
		})
	case strings.HasPrefix(r.URL.Path, "/v1/replicas/"):
		reply(http.StatusOK, node.ReplicasResponse{Key: strings.TrimPrefix(r.URL.Path, "/v1/replicas/"), Version: 2, Holders: []node.HolderReplica{
			{PeerID: "12D3KooWSelf", Version: 2, Has: true, Self: true},
			{PeerID: "12D3KooWPeerA", Version: 1},
			{PeerID: "12D3KooWPeerB", Error: "dial backoff"},
		}})
	default:
		reply(http.StatusNotFound, node.ErrorResponse{Error: "no such route", Code: node.CodeNotFound})
	}
}

// lastRequest returns the last request's escaped path, query, auth header and body.
func (f *fakeNode) lastRequest() (path, query, auth, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last.URL.EscapedPath(), f.last.URL.RawQuery, f.last.Header.Get("Authorization"), f.body
}

func TestClientCommands(t *testing.T) {
	f := newFakeNode(t)
	api := []string{"DHTNODE_API=" + f.URL}
	cli := invocation{environ: api}

	res := cli.dhtnode(t, "put", "dir/key", "hello")
	if res.code != exitOK || res.stdout != "version 1 (acks 3/5)\n" {
		t.Fatalf("put: %+v", res)
	}
	if path, _, _, body := f.lastRequest(); path != "/v1/values/dir%2Fkey" || body != "hello" {
		t.Errorf("put sent %s with %q", path, body)
	}

	res = invocation{environ: api, stdin: "from\x00stdin"}.dhtnode(t, "put", "k2", "--ttl", "1h", "--w", "2", "--if-version", "0", "--json")
	var put node.PutResponse
	if res.code != exitOK || json.Unmarshal([]byte(res.stdout), &put) != nil || put.Version != 2 {
		t.Fatalf("put from stdin: %+v", res)
	}
	if _, query, _, body := f.lastRequest(); query != "if_version=0&ttl=1h0m0s&w=2" || body != "from\x00stdin" {
		t.Errorf("put from stdin sent query %q body %q", query, body)
	}
	if res := (invocation{environ: api, stdin: "dash"}).dhtnode(t, "put", "k3", "-"); res.code != exitOK {
		t.Fatalf("put -: %+v", res)
	}
	if _, _, _, body := f.lastRequest(); body != "dash" {
		t.Errorf("put - sent %q, want stdin", body)
	}

	res = cli.dhtnode(t, "get", "k2", "--r", "2")
	if res.code != exitOK || res.stdout != "from\x00stdin" {
		t.Fatalf("get: %+v", res)
	}
	if _, query, _, _ := f.lastRequest(); query != "r=2" {
		t.Errorf("get sent query %q", query)
	}

	res = cli.dhtnode(t, "del", "k2")
	if res.code != exitOK || res.stdout != "deleted, version 8 (acks 2)\n" {
		t.Fatalf("del: %+v", res)
	}
	res = cli.dhtnode(t, "get", "k2")
	if res.code != exitFailed || res.stdout != "" || res.stderr != "dhtnode: get \"k2\": not found\n" {
		t.Fatalf("get after del: %+v", res)
	}

	res = cli.dhtnode(t, "put", "quorum", "v")
	if res.code != exitFailed || res.stderr != "dhtnode: put \"quorum\": write quorum not reached (1 of 2 acks)\n" {
		t.Fatalf("put without quorum: %+v", res)
	}
}

func TestClientCommandTokenAndURL(t *testing.T) {
	f := newFakeNode(t)
	// The flag wins over the environment, for the URL and the token.
	cli := invocation{environ: []string{"DHTNODE_API=http://127.0.0.1:1", "DHTNODE_TOKEN=wrong"}}
	if res := cli.dhtnode(t, "status", "--api", f.URL, "--token", "s3cret"); res.code != exitOK {
		t.Fatalf("status: %+v", res)
	}
	if _, _, auth, _ := f.lastRequest(); auth != "Bearer s3cret" {
		t.Errorf("Authorization %q, want the --token value", auth)
	}
	res := cli.dhtnode(t, "status", "--api", f.URL)
	if res.code != exitUsage || !strings.Contains(res.stderr, "missing or wrong API token") {
		t.Errorf("status with $DHTNODE_TOKEN=wrong: %+v", res)
	}
	// A bare host:port is accepted as --api.
	if res := dhtnode(t, "peers", "--api", strings.TrimPrefix(f.URL, "http://")); res.code != exitOK {
		t.Errorf("peers with host:port: %+v", res)
	}
}

func TestClientCommandUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	for _, args := range [][]string{{"put", "k", "v"}, {"get", "k"}, {"del", "k"}, {"status"}, {"peers"}, {"replicas", "k"}} {
		res := dhtnode(t, append(args, "--api", url)...)
		if res.code != exitFailed || !strings.Contains(res.stderr, "node unreachable at "+url+": ") || strings.Count(res.stderr, "\n") != 1 {
			t.Errorf("%v: %+v", args, res)
		}
	}
}

func TestStatusPeersReplicasOutput(t *testing.T) {
	f := newFakeNode(t)
	cli := invocation{environ: []string{"DHTNODE_API=" + f.URL}}

	res := cli.dhtnode(t, "status")
	if res.code != exitOK {
		t.Fatalf("status: %+v", res)
	}
	for _, want := range []string{
		"peer ID:        12D3KooWSelf\n",
		"network:        testnet\n",
		"ready:          yes\n",
		"addresses:      /ip4/127.0.0.1/tcp/4101/p2p/12D3KooWSelf\n                /ip4/127.0.0.1/udp/4101/quic-v1/p2p/12D3KooWSelf\n",
		"routing table:  4 peers in 2 buckets",
		"records:        10 (1234 bytes, 1 under-replicated)\n",
		"replication:    factor 8, write quorum majority, read quorum 2\n",
		"repairs:        6\n",
		"last sweep:     3s ago\n",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("status output lacks %q:\n%s", want, res.stdout)
		}
	}
	res = cli.dhtnode(t, "status", "--json")
	var st node.StatusResponse
	if res.code != exitOK || json.Unmarshal([]byte(res.stdout), &st) != nil || st.RoutingTable.Size != 4 {
		t.Errorf("status --json: %+v", res)
	}

	res = cli.dhtnode(t, "peers")
	wantPeers := "PEER ID        BUCKET  CONNECTED  RTT    LAST SEEN\n" +
		"12D3KooWPeerA  0       yes        1.2ms  1s ago\n" +
		"12D3KooWPeerB  3       no         -      never\n"
	if res.code != exitOK || res.stdout != wantPeers {
		t.Errorf("peers: code %d, output\n%s\nwant\n%s", res.code, res.stdout, wantPeers)
	}
	res = cli.dhtnode(t, "peers", "--json")
	var peers []node.PeerResponse
	if res.code != exitOK || json.Unmarshal([]byte(res.stdout), &peers) != nil || len(peers) != 2 {
		t.Errorf("peers --json: %+v", res)
	}

	res = cli.dhtnode(t, "replicas", "a/b")
	wantReplicas := "key \"a/b\": winning version 2\n" +
		"PEER ID        VERSION  UP TO DATE  NOTE\n" +
		"12D3KooWSelf   2        yes         this node\n" +
		"12D3KooWPeerA  1        no          -\n" +
		"12D3KooWPeerB  0        no          error: dial backoff\n"
	if res.code != exitOK || res.stdout != wantReplicas {
		t.Errorf("replicas: code %d, output\n%s\nwant\n%s", res.code, res.stdout, wantReplicas)
	}
	if path, _, _, _ := f.lastRequest(); path != "/v1/replicas/a%2Fb" {
		t.Errorf("replicas asked %s", path)
	}
}
