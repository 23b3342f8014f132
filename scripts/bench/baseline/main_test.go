package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestLocalSeesWhatPutStored checks the /v1/local key layout against
// kad-dht's own value store: with an empty routing table PutValue fails,
// but it has already stored the record locally (notes §0.2).
func TestLocalSeesWhatPutStored(t *testing.T) {
	n, err := newNode("/ip4/127.0.0.1/tcp/0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	srv := httptest.NewServer(n.routes())
	defer srv.Close()
	defer srv.Client().CloseIdleConnections()

	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, _ := do("GET", "/readyz", ""); code != http.StatusServiceUnavailable {
		t.Errorf("readyz with an empty routing table: %d", code)
	}
	if code, _ := do("GET", "/v1/local/dir%2Fk", ""); code != http.StatusNotFound {
		t.Errorf("local before put: %d", code)
	}
	if code, _ := do("PUT", "/v1/values/dir%2Fk", "hello"); code != http.StatusServiceUnavailable {
		t.Errorf("put with an empty routing table: %d, want 503", code)
	}
	if code, _ := do("GET", "/v1/local/dir%2Fk", ""); code != http.StatusOK {
		t.Errorf("local after put: %d, want 200", code)
	}
	code, body := do("GET", "/v1/status", "")
	var st statusResponse
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != http.StatusOK || st.PeerID != n.host.ID().String() {
		t.Errorf("status %d %q: %v", code, body, err)
	}
}
