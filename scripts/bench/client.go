package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// maxErrBody bounds how much of an error response is kept for messages.
const maxErrBody = 512

// APIClient speaks the HTTP subset that dhtnode and the baseline share.
// One APIClient (one keep-alive connection pool) serves every node.
type APIClient struct {
	http *http.Client
	lean *leanPuts // Put's connections with -put-client conn; nil: http
}

// NewAPIClient returns a client whose pool keeps enough idle connections
// per node for the given number of concurrent clients.
func NewAPIClient(clients int) *APIClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = clients + 4
	tr.MaxIdleConns = 0 // no global cap
	tr.MaxConnsPerHost = 0
	return &APIClient{http: &http.Client{Transport: tr}}
}

// LeanPuts makes Put send its requests over the client's own keep-alive
// connections (leanput.go) instead of net/http's Transport.
func (c *APIClient) LeanPuts(clients int) { c.lean = newLeanPuts(clients + 4) }

// CloseIdle closes idle keep-alive connections (used between runs).
func (c *APIClient) CloseIdle() {
	c.http.CloseIdleConnections()
	if c.lean != nil {
		c.lean.closeIdle()
	}
}

// HTTPError is a non-2xx response.
type HTTPError struct {
	Method, URL string
	Status      int
	Body        string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, e.Body)
}

// do sends a request and returns the body of a 2xx response, or an
// *HTTPError carrying the start of any other response.
func (c *APIClient) do(ctx context.Context, method, u string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read body: %w", method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &HTTPError{Method: method, URL: u, Status: resp.StatusCode, Body: string(data[:min(len(data), maxErrBody)])}
	}
	return data, nil
}

// valueURL is the URL of a key under a route prefix such as "/v1/values/".
func valueURL(api, route, key string) string {
	return api + route + url.PathEscape(key)
}

// Put stores value under key through the node at api.
func (c *APIClient) Put(ctx context.Context, api, key string, value []byte) error {
	if c.lean != nil {
		return c.lean.Put(ctx, api, key, value)
	}
	_, err := c.do(ctx, http.MethodPut, valueURL(api, "/v1/values/", key), value)
	return err
}

// BatchEntry is one key of dhtnode's POST /v1/values (the value is base64
// in JSON).
type BatchEntry struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// BatchResult is the part of one entry's result the benchmark reads: Code
// is empty when the key was written.
type BatchResult struct {
	Key   string `json:"key"`
	Code  string `json:"code"`
	Error string `json:"error"`
}

// PutBatch stores entries with one dhtnode POST /v1/values through the
// node at api and returns their results in order.
func (c *APIClient) PutBatch(ctx context.Context, api string, entries []BatchEntry) ([]BatchResult, error) {
	body, err := json.Marshal(struct {
		Values []BatchEntry `json:"values"`
	}{entries})
	if err != nil {
		return nil, err
	}
	data, err := c.do(ctx, http.MethodPost, api+"/v1/values", body)
	if err != nil {
		return nil, err
	}
	var out struct {
		Results []BatchResult `json:"results"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("POST %s/v1/values: %w", api, err)
	}
	if len(out.Results) != len(entries) {
		return nil, fmt.Errorf("POST %s/v1/values: %d results for %d entries", api, len(out.Results), len(entries))
	}
	return out.Results, nil
}

// Get fetches key through the node at api.
func (c *APIClient) Get(ctx context.Context, api, key string) ([]byte, error) {
	return c.do(ctx, http.MethodGet, valueURL(api, "/v1/values/", key), nil)
}

// Status is the part of GET /v1/status the benchmark reads.
type Status struct {
	PeerID       string `json:"peer_id"`
	RoutingTable struct {
		Size int `json:"size"`
	} `json:"routing_table"`
	// Replication is nil for a system that does not report dhtnode's
	// counters (the baseline).
	Replication *ReplicationCounters `json:"replication"`
	// Records is nil for a system that does not report what it stores
	// (the baseline).
	Records *RecordCounts `json:"records"`
}

// RecordCounts are the records a dhtnode node stores.
type RecordCounts struct {
	Count           int   `json:"count"`
	Bytes           int64 `json:"bytes"`
	UnderReplicated int   `json:"under_replicated"`
}

// ReplicationCounters are dhtnode's cumulative read and repair counters.
type ReplicationCounters struct {
	Reads   uint64 `json:"reads_total"`          // quorum reads
	Hedged  uint64 `json:"hedged_reads_total"`   // holders those asked after a hedge delay
	Audits  uint64 `json:"audits_total"`         // keys whose holders repair asked for their copies
	Repairs uint64 `json:"repairs_total"`        // copies repair pushed
	Lookups uint64 `json:"repair_lookups_total"` // lookups of a range's holders (FIND_NODE rounds)
	// Factor (k), RepairBytes and RepairBytesSent are read by the volume
	// mode and not summed by add or since. RepairBytes counts a sync byte
	// on both sides, RepairBytesSent once (the sender's); each is nil when
	// the node does not report replication.repair_bytes_total or
	// replication.repair_bytes_sent_total.
	Factor          int     `json:"factor"`
	RepairBytes     *uint64 `json:"repair_bytes_total"`
	RepairBytesSent *uint64 `json:"repair_bytes_sent_total"`
}

func (c *ReplicationCounters) add(o ReplicationCounters) {
	c.Reads += o.Reads
	c.Hedged += o.Hedged
	c.Audits += o.Audits
	c.Repairs += o.Repairs
	c.Lookups += o.Lookups
}

// since returns the counts from before to c.
func (c ReplicationCounters) since(before ReplicationCounters) ReplicationCounters {
	return ReplicationCounters{Reads: c.Reads - before.Reads, Hedged: c.Hedged - before.Hedged,
		Audits: c.Audits - before.Audits, Repairs: c.Repairs - before.Repairs, Lookups: c.Lookups - before.Lookups}
}

// Status fetches GET /v1/status.
func (c *APIClient) Status(ctx context.Context, api string) (Status, error) {
	var st Status
	data, err := c.do(ctx, http.MethodGet, api+"/v1/status", nil)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("GET %s/v1/status: %w", api, err)
	}
	return st, nil
}

// Ready reports whether GET /readyz answers 200.
func (c *APIClient) Ready(ctx context.Context, api string) bool {
	_, err := c.do(ctx, http.MethodGet, api+"/readyz", nil)
	return err == nil
}

// Replicas is the part of dhtnode's GET /v1/replicas/{key} the benchmark reads.
type Replicas struct {
	Holders []struct {
		PeerID string `json:"peer_id"`
		Has    bool   `json:"has"`
	} `json:"holders"`
}

// Replicas fetches dhtnode's GET /v1/replicas/{key}.
func (c *APIClient) Replicas(ctx context.Context, api, key string) (Replicas, error) {
	var r Replicas
	data, err := c.do(ctx, http.MethodGet, valueURL(api, "/v1/replicas/", key), nil)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("GET replicas %q: %w", key, err)
	}
	return r, nil
}

// HasLocal asks the baseline's GET /v1/local/{key} whether the node holds key.
func (c *APIClient) HasLocal(ctx context.Context, api, key string) (bool, error) {
	_, err := c.do(ctx, http.MethodGet, valueURL(api, "/v1/local/", key), nil)
	if herr, ok := err.(*HTTPError); ok && herr.Status == http.StatusNotFound {
		return false, nil
	}
	return err == nil, err
}
