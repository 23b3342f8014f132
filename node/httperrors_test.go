package node_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

// Requests the API cannot serve get a JSON 4xx that says why, not a 503 or
// a silently ignored parameter.
func TestHTTPRequestErrors(t *testing.T) {
	c := testnet.New(t, 2, nil)
	base := c.Node(0).APIURL()
	check(t, base, []call{
		{name: "put", method: "PUT", path: "/v1/values/k", body: strings.NewReader("v"), want: 200},
		{name: "ttl overflowing expires_at", method: "PUT", path: "/v1/values/k?ttl=2500000h", body: strings.NewReader("v"), want: 400, wantCode: node.CodeBadRequest},
		{name: "ttl born expired", method: "PUT", path: "/v1/values/k?ttl=1ns", body: strings.NewReader("v"), want: 400, wantCode: node.CodeBadRequest},
		{name: "ttl of ten years", method: "PUT", path: "/v1/values/long?ttl=87600h", body: strings.NewReader("v"), want: 200},
		{name: "ttl of one second", method: "PUT", path: "/v1/values/short?ttl=1s", body: strings.NewReader("v"), want: 200},
		{name: "delete with ttl", method: "DELETE", path: "/v1/values/k?ttl=1h", want: 400, wantCode: node.CodeBadRequest},
		{name: "put with an unknown parameter", method: "PUT", path: "/v1/values/k?tll=1h", body: strings.NewReader("v"), want: 400, wantCode: node.CodeBadRequest},
		{name: "get with an unknown parameter", method: "GET", path: "/v1/values/k?w=1", want: 400, wantCode: node.CodeBadRequest},
		{name: "a parameter twice", method: "GET", path: "/v1/values/k?r=1&r=2", want: 400, wantCode: node.CodeBadRequest},
		{name: "replicas with a parameter", method: "GET", path: "/v1/replicas/k?r=1", want: 400, wantCode: node.CodeBadRequest},
		{name: "URI too long", method: "GET", path: "/v1/values/" + strings.Repeat("a", 9000), want: 414, wantCode: node.CodeURITooLong},
		{name: "HEAD a value", method: "HEAD", path: "/v1/values/k", want: 200},
		{name: "HEAD an absent value", method: "HEAD", path: "/v1/values/absent", want: 404},
		{name: "HEAD healthz", method: "HEAD", path: "/healthz", want: 200},
		{name: "HEAD status", method: "HEAD", path: "/v1/status", want: 200},
		{name: "delete", method: "DELETE", path: "/v1/values/k?w=2", want: 200}, // both holders have the tombstone when replicas asks
	})

	resp, _ := do(t, base, call{name: "HEAD headers", method: "HEAD", path: "/v1/values/short"})
	if resp.Header.Get(node.HeaderVersion) != "1" || resp.ContentLength != 1 {
		t.Errorf("HEAD: version %q, length %d", resp.Header.Get(node.HeaderVersion), resp.ContentLength)
	}
	resp, _ = do(t, base, call{name: "allow", method: "POST", path: "/v1/status"})
	if resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("Allow %q", resp.Header.Get("Allow"))
	}

	// replicas of a deleted key says it is a tombstone.
	_, body := do(t, base, call{name: "replicas of a deleted key", method: "GET", path: "/v1/replicas/k"})
	var rep node.ReplicasResponse
	if err := json.Unmarshal(body, &rep); err != nil || !rep.Deleted || len(rep.Holders) == 0 || !rep.Holders[0].Deleted {
		t.Errorf("replicas of a deleted key: %s", body)
	}
	_, body = do(t, base, call{name: "replicas of a live key", method: "GET", path: "/v1/replicas/long"})
	if err := json.Unmarshal(body, &rep); err != nil || rep.Deleted || strings.Contains(string(body), `"deleted":true`) {
		t.Errorf("replicas of a live key: %s", body)
	}
}

// api.token_file's first line is the token.
func TestHTTPTokenFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("fromfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := testnet.New(t, 2, func(_ int, cfg *config.Config) { cfg.API.TokenFile = file })
	check(t, c.Node(0).APIURL(), []call{
		{name: "no token", method: "GET", path: "/v1/status", want: 401, wantCode: node.CodeUnauthorized},
		{name: "the file's token", method: "GET", path: "/v1/status", header: map[string]string{"Authorization": "Bearer fromfile"}, want: 200},
	})
}
