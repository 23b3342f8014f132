package node_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

type call struct {
	name, method, path string
	body               io.Reader
	header             map[string]string
	want               int
	wantCode           string
}

func do(t *testing.T, base string, c call) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(c.method, base+c.path, c.body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func check(t *testing.T, base string, calls []call) {
	t.Helper()
	for _, c := range calls {
		resp, body := do(t, base, c)
		if resp.StatusCode != c.want {
			t.Errorf("%s: %s %s = %d %s, want %d", c.name, c.method, c.path, resp.StatusCode, body, c.want)
			continue
		}
		if c.wantCode != "" {
			var e node.ErrorResponse
			if err := json.Unmarshal(body, &e); err != nil || e.Code != c.wantCode || e.Error == "" {
				t.Errorf("%s: error body %s, want code %q", c.name, body, c.wantCode)
			}
		}
	}
}

func TestHTTPStatusCodes(t *testing.T) {
	c := testnet.New(t, 3, func(_ int, cfg *config.Config) { cfg.Replication.MaxValueSize = 1024 })
	base := c.Node(0).APIURL()
	big := strings.Repeat("x", 1025)
	check(t, base, []call{
		{name: "put", method: "PUT", path: "/v1/values/a%2Fb", body: strings.NewReader("v1"), want: 200},
		{name: "put with ttl and w", method: "PUT", path: "/v1/values/t?ttl=1h&w=2", body: strings.NewReader("v"), want: 200},
		{name: "get", method: "GET", path: "/v1/values/a%2Fb", want: 200},
		{name: "get with a raw slash", method: "GET", path: "/v1/values/a/b", want: 200},
		{name: "absent", method: "GET", path: "/v1/values/nope", want: 404, wantCode: node.CodeNotFound},
		{name: "NUL in key", method: "PUT", path: "/v1/values/a%00b", body: strings.NewReader("v"), want: 400, wantCode: node.CodeBadRequest},
		{name: "empty key", method: "GET", path: "/v1/values/", want: 400, wantCode: node.CodeBadRequest},
		{name: "bad w", method: "PUT", path: "/v1/values/k?w=zero", body: strings.NewReader("v"), want: 400, wantCode: node.CodeBadRequest},
		{name: "w above k", method: "PUT", path: "/v1/values/k?w=99", body: strings.NewReader("v"), want: 400, wantCode: node.CodeBadRequest},
		{name: "bad ttl", method: "PUT", path: "/v1/values/k?ttl=soon", body: strings.NewReader("v"), want: 400, wantCode: node.CodeBadRequest},
		{name: "bad if_version", method: "PUT", path: "/v1/values/k?if_version=-1", body: strings.NewReader("v"), want: 400, wantCode: node.CodeBadRequest},
		{name: "bad r", method: "GET", path: "/v1/values/k?r=0", want: 400, wantCode: node.CodeBadRequest},
		{name: "version conflict", method: "PUT", path: "/v1/values/a%2Fb?if_version=7", body: strings.NewReader("v"), want: 409, wantCode: node.CodeConflict},
		{name: "too large by length", method: "PUT", path: "/v1/values/big", body: strings.NewReader(big), want: 413, wantCode: node.CodeTooLarge},
		{name: "too large, chunked", method: "PUT", path: "/v1/values/big", body: io.MultiReader(strings.NewReader(big)), want: 413, wantCode: node.CodeTooLarge},
		{name: "w above the holders", method: "PUT", path: "/v1/values/k?w=5", body: strings.NewReader("v"), want: 400, wantCode: node.CodeBadRequest},
		{name: "nothing written", method: "GET", path: "/v1/values/k?r=3", want: 404, wantCode: node.CodeNotFound},
		{name: "r above the holders", method: "GET", path: "/v1/values/a%2Fb?r=5", want: 400, wantCode: node.CodeBadRequest},
		{name: "delete", method: "DELETE", path: "/v1/values/a%2Fb", want: 200},
		{name: "deleted", method: "GET", path: "/v1/values/a%2Fb", want: 404, wantCode: node.CodeNotFound},
		{name: "replicas", method: "GET", path: "/v1/replicas/t", want: 200},
		{name: "replicas of a bad key", method: "GET", path: "/v1/replicas/%00", want: 400, wantCode: node.CodeBadRequest},
		{name: "status", method: "GET", path: "/v1/status", want: 200},
		{name: "peers", method: "GET", path: "/v1/peers", want: 200},
		{name: "healthz", method: "GET", path: "/healthz", want: 200},
		{name: "readyz", method: "GET", path: "/readyz", want: 200},
		{name: "wrong method", method: "POST", path: "/v1/values/k", want: 405, wantCode: node.CodeMethodNotAllowed},
		{name: "wrong method on status", method: "DELETE", path: "/v1/status", want: 405, wantCode: node.CodeMethodNotAllowed},
		{name: "unknown route", method: "GET", path: "/v2/nothing", want: 404, wantCode: node.CodeNotFound},
	})

	resp, body := do(t, base, call{name: "get headers", method: "GET", path: "/v1/values/t"})
	if resp.Header.Get("Content-Type") != "application/octet-stream" || resp.Header.Get(node.HeaderVersion) != "1" ||
		resp.Header.Get(node.HeaderWrittenAt) == "" || !bytes.Equal(body, []byte("v")) {
		t.Errorf("GET headers %v body %q", resp.Header, body)
	}
	var st node.StatusResponse
	_, body = do(t, base, call{name: "status body", method: "GET", path: "/v1/status"})
	if err := json.Unmarshal(body, &st); err != nil || !st.Ready || st.RoutingTable.Size != 2 || st.PeerID != c.Node(0).PeerID().String() ||
		st.Replication.Factor != 8 || st.Replication.WriteQuorum != "majority" || len(st.Addrs) == 0 {
		t.Errorf("status %s", body)
	}
	var peers []node.PeerResponse
	_, body = do(t, base, call{name: "peers body", method: "GET", path: "/v1/peers"})
	if err := json.Unmarshal(body, &peers); err != nil || len(peers) != 2 || peers[0].PeerID == "" || len(peers[0].Addrs) == 0 {
		t.Errorf("peers %s", body)
	}
}

func TestHTTPToken(t *testing.T) {
	c := testnet.New(t, 2, func(_ int, cfg *config.Config) { cfg.API.Token = "s3cret" })
	base := c.Node(0).APIURL()
	check(t, base, []call{
		{name: "no token", method: "GET", path: "/v1/status", want: 401, wantCode: node.CodeUnauthorized},
		{name: "wrong token", method: "GET", path: "/v1/status", header: map[string]string{"Authorization": "Bearer nope"}, want: 401},
		{name: "token", method: "GET", path: "/v1/status", header: map[string]string{"Authorization": "Bearer s3cret"}, want: 200},
		{name: "put needs it too", method: "PUT", path: "/v1/values/k", body: strings.NewReader("v"), want: 401},
		{name: "healthz is open", method: "GET", path: "/healthz", want: 200},
		{name: "readyz is open", method: "GET", path: "/readyz", want: 200},
	})
}

// api.pprof serves Go's profiles behind the token; without it there is no
// such route.
func TestHTTPPprof(t *testing.T) {
	c := testnet.New(t, 2, func(i int, cfg *config.Config) {
		cfg.API.Token = "s3cret"
		cfg.API.Pprof = i == 0
	})
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	check(t, c.Node(0).APIURL(), []call{
		{name: "index", method: "GET", path: "/debug/pprof/", header: auth, want: 200},
		{name: "heap", method: "GET", path: "/debug/pprof/heap", header: auth, want: 200},
		{name: "goroutines", method: "GET", path: "/debug/pprof/goroutine?debug=1", header: auth, want: 200},
		{name: "no token", method: "GET", path: "/debug/pprof/heap", want: 401, wantCode: node.CodeUnauthorized},
	})
	check(t, c.Node(1).APIURL(), []call{
		{name: "off", method: "GET", path: "/debug/pprof/heap", header: auth, want: 404, wantCode: node.CodeNotFound},
	})
}
