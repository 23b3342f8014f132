package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/node"
)

// request is what the scripted server saw.
type request struct {
	method, escapedPath, query, auth string
	body                             []byte
}

// scripted is an httptest server that records every request and answers
// with reply.
type scripted struct {
	*httptest.Server
	mu   sync.Mutex
	seen []request
}

func newScripted(t *testing.T, reply http.HandlerFunc) *scripted {
	t.Helper()
	s := &scripted{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.seen = append(s.seen, request{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Authorization"), body})
		s.mu.Unlock()
		reply(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *scripted) last(t *testing.T) request {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) == 0 {
		t.Fatal("server saw no request")
	}
	return s.seen[len(s.seen)-1]
}

func replyJSON(status int, body any) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	}
}

func TestClientEscapesKeys(t *testing.T) {
	srv := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/values/") {
			w.Header().Set(node.HeaderVersion, "1")
			_, _ = w.Write([]byte("v"))
			return
		}
		replyJSON(http.StatusOK, map[string]any{})(w, r)
	})
	c := node.NewClient(srv.URL, "")
	ctx := context.Background()
	keys := []string{"plain", "a/b", "a//b/", "..", "with space", "q?x=1#frag", "100%", "ünï", "a%2Fb"}
	ops := []struct {
		name, prefix string
		call         func(key string) error
	}{
		{"put", "/v1/values/", func(k string) error { _, err := c.Put(ctx, k, []byte("v"), node.PutOptions{}); return err }},
		{"get", "/v1/values/", func(k string) error { _, _, err := c.Get(ctx, k, 0); return err }},
		{"delete", "/v1/values/", func(k string) error { _, err := c.Delete(ctx, k); return err }},
		{"replicas", "/v1/replicas/", func(k string) error { _, err := c.Replicas(ctx, k); return err }},
	}
	for _, op := range ops {
		for _, key := range keys {
			if err := op.call(key); err != nil {
				t.Fatalf("%s %q: %v", op.name, key, err)
			}
			got := srv.last(t)
			escaped, ok := strings.CutPrefix(got.escapedPath, op.prefix)
			if !ok {
				t.Fatalf("%s %q: path %q lacks prefix %s", op.name, key, got.escapedPath, op.prefix)
			}
			if strings.Contains(escaped, "/") {
				t.Errorf("%s %q: escaped key %q still contains /", op.name, key, escaped)
			}
			if back, err := url.PathUnescape(escaped); err != nil || back != key {
				t.Errorf("%s %q: server decoded %q (%v)", op.name, key, back, err)
			}
			if got.query != "" {
				t.Errorf("%s %q: unexpected query %q", op.name, key, got.query)
			}
		}
	}
	c.CloseIdleConnections()
}

func TestClientSendsToken(t *testing.T) {
	srv := newScripted(t, replyJSON(http.StatusOK, node.StatusResponse{PeerID: "12D3Koo"}))
	for _, tc := range []struct{ token, want string }{{"s3cret", "Bearer s3cret"}, {"", ""}} {
		c := node.NewClient(srv.URL, tc.token)
		st, err := c.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.PeerID != "12D3Koo" {
			t.Errorf("status peer ID = %q", st.PeerID)
		}
		if got := srv.last(t); got.auth != tc.want || got.escapedPath != "/v1/status" {
			t.Errorf("token %q: sent Authorization %q to %s, want %q", tc.token, got.auth, got.escapedPath, tc.want)
		}
		c.CloseIdleConnections()
	}
}

func TestClientErrorCodes(t *testing.T) {
	sentinels := []error{node.ErrNotFound, node.ErrVersionConflict, node.ErrInsufficientReplicas,
		node.ErrUnauthorized, node.ErrBadRequest, node.ErrTooLarge, node.ErrUnreachable}
	two, three := 2, 3
	cases := []struct {
		status  int
		body    node.ErrorResponse
		want    error // nil: no sentinel
		wantMsg string
	}{
		{404, node.ErrorResponse{Error: "not found", Code: node.CodeNotFound}, node.ErrNotFound, "not found"},
		{409, node.ErrorResponse{Error: "if_version 3 != 5", Code: node.CodeConflict}, node.ErrVersionConflict, "if_version 3 != 5"},
		{503, node.ErrorResponse{Error: "write quorum not reached", Code: node.CodeInsufficientReplicas, Acks: &two, Needed: &three},
			node.ErrInsufficientReplicas, "write quorum not reached (2 of 3 acks)"},
		{503, node.ErrorResponse{Error: "read quorum not reached", Code: node.CodeInsufficientReplicas}, node.ErrInsufficientReplicas, "read quorum not reached"},
		{401, node.ErrorResponse{Error: "missing or wrong API token", Code: node.CodeUnauthorized}, node.ErrUnauthorized, "missing or wrong API token"},
		{400, node.ErrorResponse{Error: "bad key: empty", Code: node.CodeBadRequest}, node.ErrBadRequest, "bad key: empty"},
		{413, node.ErrorResponse{Error: "value larger than max_value_size", Code: node.CodeTooLarge}, node.ErrTooLarge, "value larger than max_value_size"},
		{500, node.ErrorResponse{Error: "internal error: boom", Code: node.CodeInternal}, nil, "internal error: boom"},
		{504, node.ErrorResponse{Code: node.CodeTimeout}, nil, "HTTP 504 Gateway Timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.body.Code, func(t *testing.T) {
			srv := newScripted(t, replyJSON(tc.status, tc.body))
			c := node.NewClient(srv.URL, "")
			defer c.CloseIdleConnections()
			_, err := c.Put(context.Background(), "k", []byte("v"), node.PutOptions{})
			var apiErr *node.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v (%T), want *APIError", err, err)
			}
			if apiErr.Status != tc.status || apiErr.Code != tc.body.Code {
				t.Errorf("APIError status %d code %q, want %d %q", apiErr.Status, apiErr.Code, tc.status, tc.body.Code)
			}
			if err.Error() != tc.wantMsg {
				t.Errorf("Error() = %q, want %q", err.Error(), tc.wantMsg)
			}
			for _, s := range sentinels {
				if got := errors.Is(err, s); got != (s == tc.want) {
					t.Errorf("errors.Is(err, %q) = %v", s, got)
				}
			}
		})
	}
}

func TestClientNonJSONError(t *testing.T) {
	srv := newScripted(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "<html>\n  no such thing\n</html>", http.StatusBadGateway)
	})
	c := node.NewClient(srv.URL, "")
	defer c.CloseIdleConnections()
	_, err := c.Peers(context.Background())
	var apiErr *node.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadGateway || errors.Unwrap(err) != nil {
		t.Fatalf("err = %#v", err)
	}
	want := "unexpected reply from " + srv.URL + ": HTTP 502 Bad Gateway: <html> no such thing </html>"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}

func TestClientPutOptionsAndGet(t *testing.T) {
	srv := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPut:
			replyJSON(http.StatusOK, node.PutResponse{Key: "k", Version: 7, Acks: 3, Replicas: 5})(w, r)
		case http.MethodGet:
			w.Header().Set(node.HeaderVersion, "7")
			_, _ = w.Write([]byte{0, 1, 2, 255})
		}
	})
	c := node.NewClient(srv.URL+"/", "")
	defer c.CloseIdleConnections()
	ctx := context.Background()
	six := uint64(6)
	res, err := c.Put(ctx, "k", []byte("payload"), node.PutOptions{TTL: 90 * time.Second, W: 2, IfVersion: &six})
	if err != nil {
		t.Fatal(err)
	}
	if res != (node.PutResponse{Key: "k", Version: 7, Acks: 3, Replicas: 5}) {
		t.Errorf("put response %+v", res)
	}
	got := srv.last(t)
	q, _ := url.ParseQuery(got.query)
	if q.Get("ttl") != "1m30s" || q.Get("w") != "2" || q.Get("if_version") != "6" || string(got.body) != "payload" {
		t.Errorf("put sent query %q body %q", got.query, got.body)
	}

	value, version, err := c.Get(ctx, "k", 3)
	if err != nil {
		t.Fatal(err)
	}
	if string(value) != "\x00\x01\x02\xff" || version != 7 {
		t.Errorf("get = %q version %d", value, version)
	}
	if got := srv.last(t); got.query != "r=3" {
		t.Errorf("get sent query %q, want r=3", got.query)
	}
}

func TestClientGetWithoutVersionHeader(t *testing.T) {
	srv := newScripted(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("v")) })
	c := node.NewClient(srv.URL, "")
	defer c.CloseIdleConnections()
	if _, _, err := c.Get(context.Background(), "k", 0); err == nil || !strings.Contains(err.Error(), node.HeaderVersion) {
		t.Fatalf("err = %v, want one naming %s", err, node.HeaderVersion)
	}
}

func TestClientUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // nothing listens on base any more
	c := node.NewClient(strings.TrimPrefix(base, "http://"), "")
	defer c.CloseIdleConnections()
	if c.BaseURL() != base {
		t.Errorf("BaseURL() = %q, want %q", c.BaseURL(), base)
	}
	_, err := c.Status(context.Background())
	if !errors.Is(err, node.ErrUnreachable) || !strings.HasPrefix(err.Error(), "node unreachable at "+base+": ") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "\n") || strings.Count(err.Error(), base) != 1 {
		t.Errorf("error is not one clear line: %q", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Status(ctx); !errors.Is(err, context.Canceled) || errors.Is(err, node.ErrUnreachable) {
		t.Errorf("cancelled request: err = %v, want context.Canceled", err)
	}
}
