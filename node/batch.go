package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/dhtnode/dhtnode/replication"
)

// POST /v1/values writes many keys in one request (issue 20: a bulk load
// through single puts pays a request and its quorum round trips per key).
// Each entry is an independent put with the semantics of
// PUT /v1/values/{key} (key and size checks, owned keys, quorum, versions),
// written by replication.PutMany, which sends each holder all of its
// entries' records together; the batch is not atomic: some entries may be
// written and others not, and the answer says which, in the order of the
// request.
// Not in SPEC §5: an addition.
const batchPath = "/v1/values"

// Bounds of a batch write.
const (
	// MaxBatchEntries bounds the entries of one request; more is a 400.
	MaxBatchEntries = 1000
	// minBatchBodyBytes is the body limit of a batch when max_value_size is
	// small (batchBodyLimit): 1,000 values of 3 KiB in base64.
	minBatchBodyBytes = 4 << 20
	// maxBatchRequests bounds the batches a node serves at once (their
	// bodies in memory, and on each holder one batch message of each at a
	// time: replication.PutMany); further batches wait for a slot, their
	// bodies unread.
	maxBatchRequests = 4
	// batchTimeout bounds a whole batch, under the Go client's timeout
	// (30 s). Entries not written by then answer that their quorum was
	// not reached.
	batchTimeout = 25 * time.Second
)

// batchQueryParams are the query parameters of POST /v1/values: a write
// quorum and a default ttl for every entry.
var batchQueryParams = []string{"ttl", "w"}

// BatchPutRequest is the body of POST /v1/values.
type BatchPutRequest struct {
	Values []BatchEntry `json:"values"`
}

// BatchEntry is one key to write. Value is base64 in JSON (standard
// alphabet, padded); TTL, a Go duration such as "24h", overrides the
// request's ttl parameter for this key.
type BatchEntry struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
	TTL   string `json:"ttl,omitempty"`
}

// BatchPutResponse is the body of a POST /v1/values that was tried: one
// result per entry, in the order of the request.
type BatchPutResponse struct {
	Results []BatchResult `json:"results"`
}

// BatchResult is the outcome of one entry. A written entry has Version,
// Acks and Replicas (as PutResponse); a failed one has Error, Code and the
// Status a single PUT of it would have got, with Acks and Needed when its
// quorum was not reached.
type BatchResult struct {
	Key      string `json:"key"`
	Version  uint64 `json:"version,omitempty"`
	Acks     int    `json:"acks"`
	Replicas int    `json:"replicas,omitempty"`
	Error    string `json:"error,omitempty"`
	Code     string `json:"code,omitempty"`
	Status   int    `json:"status,omitempty"`
	Needed   int    `json:"needed,omitempty"`
}

// OK reports whether the entry was written.
func (r BatchResult) OK() bool { return r.Code == "" }

// batchBodyLimit is the largest batch body: minBatchBodyBytes, or room for
// one value of maxValueSize in base64 when that is more.
func batchBodyLimit(maxValueSize int) int64 {
	return max(minBatchBodyBytes, int64(maxValueSize)/3*4+64<<10)
}

// batchWrite is one decoded entry ready to put.
type batchWrite struct {
	key   string
	value []byte
	ttl   time.Duration
}

// errBatchMalformed marks a body refused as a whole (400, nothing written).
var errBatchMalformed = errors.New("bad batch")

// decodeBatch parses and checks a batch body: JSON with no unknown fields
// and nothing after it, 1 to maxEntries entries, no key twice, ttls in
// range (defaultTTL for entries without one). Keys and value sizes are
// checked per entry by the put, not here.
func decodeBatch(data []byte, maxEntries int, defaultTTL time.Duration) ([]batchWrite, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var req BatchPutRequest
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("%w: body is not a batch: %v", errBatchMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the batch's JSON object", errBatchMalformed)
	}
	if len(req.Values) == 0 || len(req.Values) > maxEntries {
		return nil, fmt.Errorf("%w: values must hold 1 to %d entries, not %d", errBatchMalformed, maxEntries, len(req.Values))
	}
	out := make([]batchWrite, len(req.Values))
	seen := make(map[string]int, len(req.Values))
	for i, e := range req.Values {
		if j, dup := seen[e.Key]; dup {
			return nil, fmt.Errorf("%w: entries %d and %d have the same key %s", errBatchMalformed, j, i, quote(e.Key))
		}
		seen[e.Key] = i
		out[i] = batchWrite{key: e.Key, value: e.Value, ttl: defaultTTL}
		if e.TTL != "" {
			d, err := parseTTL(e.TTL)
			if err != nil {
				return nil, fmt.Errorf("%w: entry %d: %v", errBatchMalformed, i, err)
			}
			out[i].ttl = d
		}
	}
	return out, nil
}

// handleBatch serves POST /v1/values.
func (n *Node) handleBatch(w http.ResponseWriter, r *http.Request) {
	if !checkParamsOf(w, r, batchQueryParams) {
		return
	}
	opts, err := n.putOptions(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), CodeBadRequest)
		return
	}
	limit := batchBodyLimit(n.cfg.Replication.MaxValueSize)
	if r.ContentLength > limit {
		writeError(w, http.StatusRequestEntityTooLarge, batchTooLarge(limit), CodeTooLarge)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), batchTimeout)
	defer cancel()
	select { // a node-wide slot before the body is read
	case n.batchSlots <- struct{}{}:
		defer func() { <-n.batchSlots }()
	case <-ctx.Done():
		writeError(w, http.StatusServiceUnavailable, "timed out waiting for one of the node's "+strconv.Itoa(maxBatchRequests)+" batch slots", CodeTimeout)
		return
	}
	data, err := readBody(w, r, limit)
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			writeError(w, http.StatusRequestEntityTooLarge, batchTooLarge(limit), CodeTooLarge)
			return
		}
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error(), CodeBadRequest)
		return
	}
	writes, err := decodeBatch(data, MaxBatchEntries, opts.TTL)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), CodeBadRequest)
		return
	}
	if !chargeEntries(w, r, len(writes)-1) { // the request itself took one
		return
	}
	writeJSON(w, http.StatusOK, BatchPutResponse{Results: n.putBatch(ctx, writes, opts.W)})
}

func batchTooLarge(limit int64) string {
	return "batch body larger than " + strconv.FormatInt(limit, 10) + " bytes: send fewer entries per request"
}

// putBatch puts every entry (replication.PutMany: each holder gets its
// entries' records together) and returns their results in order.
func (n *Node) putBatch(ctx context.Context, writes []batchWrite, quorum int) []BatchResult {
	puts := make([]replication.BulkPut, len(writes))
	for i, e := range writes {
		puts[i] = replication.BulkPut{Key: e.key, Value: e.value, TTL: e.ttl}
	}
	res, errs := n.repl.PutMany(ctx, puts, quorum)
	results := make([]BatchResult, len(writes))
	for i, e := range writes {
		results[i] = n.entryResult(ctx, e.key, res[i], errs[i])
	}
	return results
}

// entryResult is the answer to one entry of a batch, as PUT
// /v1/values/{key} would have answered it.
func (n *Node) entryResult(ctx context.Context, key string, res replication.WriteResult, err error) BatchResult {
	n.metrics.observeWrite(res, err)
	out := BatchResult{Key: key}
	if err == nil {
		out.Version, out.Acks, out.Replicas = res.Version, res.Acks, res.Replicas
		return out
	}
	out.Status, out.Code, out.Error = opError(err)
	switch out.Code {
	case CodeInsufficientReplicas:
		out.Acks, out.Needed = res.Acks, res.Needed
	case CodeInternal:
		level := slog.LevelError
		if errors.Is(err, context.Canceled) {
			level = slog.LevelDebug // the client went away
		}
		n.logger.Log(ctx, level, "HTTP API: internal error in a batch", "key", key, "error", err)
	}
	return out
}
