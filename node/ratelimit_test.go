package node_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

// A client over api.rate_limit gets 429 with Retry-After and a JSON error
// coded rate_limited; health probes are not limited; once Retry-After has
// passed, the client is served again.
func TestAPIRateLimitAnswers429(t *testing.T) {
	const burst = 5
	c := testnet.New(t, 2, func(_ int, cfg *config.Config) {
		cfg.API.RateLimit = 2
		cfg.API.RateBurst = burst
	})
	base := c.Node(0).APIURL()
	get := func(path string) *http.Response {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	served := 0
	var limited *http.Response
	for range 4 * burst {
		resp := get("/v1/status")
		if resp.StatusCode == http.StatusOK {
			served++
			continue
		}
		limited = resp
		break
	}
	if limited == nil || limited.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("%d requests in a row, none refused with 429 (last: %v)", 4*burst, limited)
	}
	if served < burst || served > burst+2 {
		t.Fatalf("%d requests served before the 429, want the burst of %d", served, burst)
	}
	after, err := strconv.Atoi(limited.Header.Get("Retry-After"))
	if err != nil || after < 1 || after > 2 {
		t.Fatalf("Retry-After %q, want 1 or 2 seconds", limited.Header.Get("Retry-After"))
	}
	var body node.ErrorResponse
	if err := json.NewDecoder(limited.Body).Decode(&body); err != nil || body.Code != node.CodeRateLimited || body.Error == "" {
		t.Fatalf("429 body %+v, %v; want code %s and a message", body, err, node.CodeRateLimited)
	}
	for range 3 * burst {
		if resp := get("/healthz"); resp.StatusCode != http.StatusOK {
			t.Fatalf("/healthz answered %d while the client was limited", resp.StatusCode)
		}
	}
	// Refused requests spend nothing: polling does not push the time back.
	c.WaitFor(time.Duration(after)*time.Second+time.Second, "/v1/status served again after Retry-After", func() bool {
		return get("/v1/status").StatusCode == http.StatusOK
	})
}

// Without api.rate_limit the loopback API is not limited.
func TestAPIRateLimitOffOnLoopback(t *testing.T) {
	c := testnet.New(t, 2, nil)
	base := c.Node(0).APIURL()
	for i := range 200 {
		resp, err := http.Get(base + "/v1/status")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d answered %d on a loopback API without a rate limit", i, resp.StatusCode)
		}
	}
}
