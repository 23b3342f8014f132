package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

// batchBody is the JSON of a POST /v1/values.
func batchBody(t *testing.T, entries ...node.BatchEntry) io.Reader {
	t.Helper()
	data, err := json.Marshal(node.BatchPutRequest{Values: entries})
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(data)
}

// postBatch sends a batch and decodes a 200 answer's results.
func postBatch(t *testing.T, base, query string, header map[string]string, body io.Reader) (*http.Response, []node.BatchResult, []byte) {
	t.Helper()
	resp, data := do(t, base, call{name: "batch", method: http.MethodPost, path: "/v1/values" + query, body: body, header: header})
	var out node.BatchPutResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatalf("batch answer %s: %v", data, err)
		}
	}
	return resp, out.Results, data
}

// A batch of good and bad entries answers 200 with one result per entry in
// order: the good ones are written and readable, each bad one carries the
// error a single PUT of it would have got. A body refused as a whole (not
// JSON, unknown fields, too many entries, a key twice, a bad ttl, too
// large) writes nothing. The token is required as for every route.
func TestBatchPut(t *testing.T) {
	c := testnet.New(t, 3, func(_ int, cfg *config.Config) {
		cfg.Replication.MaxValueSize = 1024
		cfg.API.Token = "s3cret"
	})
	base := c.Node(0).APIURL()
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	other := c.Node(1).PeerID().String()
	own := c.Node(0).PeerID().String()
	entries := []node.BatchEntry{
		{Key: "a/b", Value: []byte("v1")},
		{Key: "bad\x00key", Value: []byte("v")},
		{Key: "big", Value: bytes.Repeat([]byte("x"), 1025)},
		{Key: "@" + other + "/mine", Value: []byte("v")},
		{Key: "@" + own + "/ours", Value: []byte("v")},
		{Key: "short", Value: []byte("v2"), TTL: "1h"},
		{Key: "empty"},
	}
	resp, res, data := postBatch(t, base, "?w=2", auth, batchBody(t, entries...))
	if resp.StatusCode != http.StatusOK || len(res) != len(entries) {
		t.Fatalf("mixed batch = %d %s, want 200 with %d results", resp.StatusCode, data, len(entries))
	}
	want := []struct {
		code   string
		status int
	}{{"", 0}, {node.CodeBadRequest, 400}, {node.CodeTooLarge, 413}, {node.CodeForbidden, 403}, {"", 0}, {"", 0}, {"", 0}}
	for i, r := range res {
		if r.Key != entries[i].Key || r.Code != want[i].code || r.Status != want[i].status {
			t.Errorf("result %d = %+v, want key %q code %q status %d", i, r, entries[i].Key, want[i].code, want[i].status)
		}
		if r.OK() && (r.Version == 0 || r.Acks < 2 || r.Replicas != 3 || r.Error != "") {
			t.Errorf("result %d = %+v, want a version and at least w=2 of 3 acks", i, r)
		}
		if !r.OK() && (r.Error == "" || r.Version != 0) {
			t.Errorf("result %d = %+v, want an error message and no version", i, r)
		}
	}
	ctx := context.Background()
	cl := node.NewClient(c.Node(2).APIURL(), "s3cret")
	for _, i := range []int{0, 4, 5, 6} {
		if v, _, err := cl.Get(ctx, entries[i].Key, 0); err != nil || !bytes.Equal(v, entries[i].Value) {
			t.Errorf("get %q through another node = %q, %v; want %q", entries[i].Key, v, err, entries[i].Value)
		}
	}
	for _, i := range []int{2, 3} {
		if _, _, err := cl.Get(ctx, entries[i].Key, 0); !errors.Is(err, node.ErrNotFound) {
			t.Errorf("get refused entry %q: %v, want not found", entries[i].Key, err)
		}
	}

	// Refused as a whole: nothing of them is written.
	tooMany := make([]node.BatchEntry, node.MaxBatchEntries+1)
	for i := range tooMany {
		tooMany[i] = node.BatchEntry{Key: "many-" + strconv.Itoa(i)}
	}
	huge := make([]node.BatchEntry, 1000)
	for i := range huge {
		huge[i] = node.BatchEntry{Key: "huge-" + strconv.Itoa(i), Value: bytes.Repeat([]byte{'h'}, 1024*4)}
	}
	hugeBody, _ := json.Marshal(node.BatchPutRequest{Values: huge})
	check(t, base, []call{
		{name: "no token", method: http.MethodPost, path: "/v1/values", body: batchBody(t, node.BatchEntry{Key: "nope-0"}), want: 401, wantCode: node.CodeUnauthorized},
		{name: "not JSON", method: http.MethodPost, path: "/v1/values", body: strings.NewReader(`{"values":[{"key":"nope-1"`), header: auth, want: 400, wantCode: node.CodeBadRequest},
		{name: "unknown field", method: http.MethodPost, path: "/v1/values", body: strings.NewReader(`{"values":[{"key":"nope-2","value":"","if_version":1}]}`), header: auth, want: 400, wantCode: node.CodeBadRequest},
		{name: "duplicate key", method: http.MethodPost, path: "/v1/values", body: batchBody(t, node.BatchEntry{Key: "nope-3"}, node.BatchEntry{Key: "nope-4"}, node.BatchEntry{Key: "nope-3"}), header: auth, want: 400, wantCode: node.CodeBadRequest},
		{name: "bad entry ttl", method: http.MethodPost, path: "/v1/values", body: batchBody(t, node.BatchEntry{Key: "nope-5"}, node.BatchEntry{Key: "nope-6", TTL: "forever"}), header: auth, want: 400, wantCode: node.CodeBadRequest},
		{name: "too many entries", method: http.MethodPost, path: "/v1/values", body: batchBody(t, tooMany...), header: auth, want: 400, wantCode: node.CodeBadRequest},
		{name: "empty", method: http.MethodPost, path: "/v1/values", body: strings.NewReader(`{"values":[]}`), header: auth, want: 400, wantCode: node.CodeBadRequest},
		{name: "if_version", method: http.MethodPost, path: "/v1/values?if_version=1", body: batchBody(t, node.BatchEntry{Key: "nope-7"}), header: auth, want: 400, wantCode: node.CodeBadRequest},
		{name: "w above k", method: http.MethodPost, path: "/v1/values?w=9", body: batchBody(t, node.BatchEntry{Key: "nope-8"}), header: auth, want: 400, wantCode: node.CodeBadRequest},
		{name: "too large by length", method: http.MethodPost, path: "/v1/values", body: bytes.NewReader(hugeBody), header: auth, want: 413, wantCode: node.CodeTooLarge},
		{name: "too large, chunked", method: http.MethodPost, path: "/v1/values", body: io.MultiReader(bytes.NewReader(hugeBody)), header: auth, want: 413, wantCode: node.CodeTooLarge},
		{name: "GET", method: http.MethodGet, path: "/v1/values", header: auth, want: 405, wantCode: node.CodeMethodNotAllowed},
	})
	for _, k := range []string{"nope-0", "nope-1", "nope-2", "nope-3", "nope-4", "nope-5", "nope-7", "nope-8", "many-0", "many-1000", "huge-0", "huge-999"} {
		if _, _, err := cl.Get(ctx, k, 1); !errors.Is(err, node.ErrNotFound) {
			t.Errorf("key %q of a refused batch: %v, want not found", k, err)
		}
	}

	// The Go client: results in order, the batch's ttl for entries without their own.
	n0 := node.NewClient(base, "s3cret")
	got, err := n0.PutBatch(ctx, []node.BatchEntry{{Key: "c1", Value: []byte("x")}, {Key: "c2", Value: []byte("y"), TTL: "2h"}, {Key: ""}},
		node.PutOptions{TTL: time.Hour, W: 3})
	if err != nil || len(got) != 3 || !got[0].OK() || got[0].Acks != 3 || !got[1].OK() || got[2].Code != node.CodeBadRequest {
		t.Fatalf("PutBatch = %+v, %v", got, err)
	}
	if _, err := n0.PutBatch(ctx, []node.BatchEntry{{Key: "d"}, {Key: "d"}}, node.PutOptions{}); !errors.Is(err, node.ErrBadRequest) {
		t.Fatalf("PutBatch with a key twice: %v, want ErrBadRequest", err)
	}
	if _, err := node.NewClient(base, "").PutBatch(ctx, []node.BatchEntry{{Key: "d"}}, node.PutOptions{}); !errors.Is(err, node.ErrUnauthorized) {
		t.Fatalf("PutBatch without the token: %v, want ErrUnauthorized", err)
	}
}

// The API rate limit counts a batch's entries, not its requests: a batch
// over what is left of the client's burst is refused with 429 and
// Retry-After and writes nothing; a batch larger than the burst can never
// pass and is a 400 that says so.
func TestBatchRateLimitCountsEntries(t *testing.T) {
	const burst = 10
	c := testnet.New(t, 2, func(_ int, cfg *config.Config) {
		cfg.API.RateLimit = 1
		cfg.API.RateBurst = burst
	})
	base := c.Node(0).APIURL()
	keys := func(prefix string, n int) []node.BatchEntry {
		out := make([]node.BatchEntry, n)
		for i := range out {
			out[i] = node.BatchEntry{Key: fmt.Sprintf("%s-%d", prefix, i), Value: []byte("v")}
		}
		return out
	}
	resp, res, data := postBatch(t, base, "", nil, batchBody(t, keys("first", 8)...))
	if resp.StatusCode != http.StatusOK || len(res) != 8 {
		t.Fatalf("batch of 8 of a burst of %d = %d %s", burst, resp.StatusCode, data)
	}
	resp, _, data = postBatch(t, base, "", nil, batchBody(t, keys("second", 5)...))
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("batch of 5 after 8 of a burst of %d = %d %s, want 429", burst, resp.StatusCode, data)
	}
	if after, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || after < 1 || after > 5 {
		t.Fatalf("Retry-After %q, want 1 to 5 seconds", resp.Header.Get("Retry-After"))
	}
	var e node.ErrorResponse
	if err := json.Unmarshal(data, &e); err != nil || e.Code != node.CodeRateLimited {
		t.Fatalf("429 body %s, want code %s", data, node.CodeRateLimited)
	}
	resp, _, data = postBatch(t, base, "", nil, batchBody(t, keys("third", burst+1)...))
	if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(data, []byte("rate_burst")) {
		t.Fatalf("batch of %d over a burst of %d = %d %s, want 400 naming api.rate_burst", burst+1, burst, resp.StatusCode, data)
	}
	cl := c.Client(1)
	for _, k := range []string{"second-0", "second-4", "third-0"} {
		if _, _, err := cl.Get(context.Background(), k, 1); !errors.Is(err, node.ErrNotFound) {
			t.Errorf("key %q of a refused batch: %v, want not found", k, err)
		}
	}
}

// A batch some of whose entries cannot reach their write quorum answers
// 200 and reports those as insufficient_replicas with their acks and the
// acks they needed; the others are written. Node 2 refuses values over 8
// bytes (as in TestPartialWriteIsReportedAndCounted), so at w=3 a long
// value is stored by two holders of three and fails.
func TestBatchReportsQuorumFailures(t *testing.T) {
	c := testnet.New(t, 3, func(i int, cfg *config.Config) {
		if i == 2 {
			cfg.Replication.MaxValueSize = 8
		}
	})
	long := bytes.Repeat([]byte("v"), 64)
	entries := []node.BatchEntry{{Key: "q1", Value: []byte("short")}, {Key: "q2", Value: long}, {Key: "q3", Value: []byte("short")}, {Key: "q4", Value: long}}
	resp, res, data := postBatch(t, c.Node(0).APIURL(), "?w=3", nil, batchBody(t, entries...))
	if resp.StatusCode != http.StatusOK || len(res) != len(entries) {
		t.Fatalf("batch = %d %s, want 200 with %d results", resp.StatusCode, data, len(entries))
	}
	for i, r := range res {
		if len(entries[i].Value) <= 8 {
			if !r.OK() || r.Acks != 3 || r.Key != entries[i].Key {
				t.Errorf("result %d = %+v, want written with 3 acks", i, r)
			}
			continue
		}
		if r.OK() || r.Code != node.CodeInsufficientReplicas || r.Status != http.StatusServiceUnavailable || r.Needed != 3 || r.Acks != 2 {
			t.Errorf("result %d = %+v, want insufficient_replicas with 2 of the 3 acks needed", i, r)
		}
	}
}
