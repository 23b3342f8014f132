package node

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Errors a Client returns, matched with errors.Is. Each API error code of
// SPEC §5 has one; an *APIError unwraps to the sentinel of its code.
var (
	// ErrNotFound is returned when the key is absent, deleted or expired.
	ErrNotFound = errors.New("not found")
	// ErrVersionConflict is returned when a write's if_version does not match.
	ErrVersionConflict = errors.New("version conflict")
	// ErrInsufficientReplicas is returned when a read or write quorum was not reached.
	ErrInsufficientReplicas = errors.New("insufficient replicas")
	// ErrUnauthorized is returned when the API token is missing or wrong.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden is returned for a write of an owned key ("@<peer ID>/...")
	// not signed by the key's owner.
	ErrForbidden = errors.New("forbidden")
	// ErrBadRequest is returned for a bad key or query parameter.
	ErrBadRequest = errors.New("bad request")
	// ErrTooLarge is returned when a value exceeds max_value_size.
	ErrTooLarge = errors.New("value too large")
	// ErrUnreachable is returned when the node's API cannot be reached at all.
	ErrUnreachable = errors.New("node unreachable")
)

// codeErrors maps the API error codes to their sentinels.
var codeErrors = map[string]error{
	CodeNotFound:             ErrNotFound,
	CodeConflict:             ErrVersionConflict,
	CodeInsufficientReplicas: ErrInsufficientReplicas,
	CodeUnauthorized:         ErrUnauthorized,
	CodeForbidden:            ErrForbidden,
	CodeBadRequest:           ErrBadRequest,
	CodeTooLarge:             ErrTooLarge,
}

// Client limits.
const (
	// clientTimeout bounds one request; the server gives up on a value
	// operation after requestTimeout, so this only catches a hung node.
	clientTimeout = 30 * time.Second
	// maxReplyBytes bounds what the client reads of any reply: a value is at
	// most 1 MiB, and a peer list of a full routing table is far smaller.
	maxReplyBytes = 16 << 20
)

// APIError is an error reply of the HTTP API (an ErrorResponse).
type APIError struct {
	Status  int    // HTTP status
	Code    string // e.g. CodeNotFound; empty when the reply was not JSON
	Message string
	// Acks and Needed are set when a write did not reach its quorum.
	Acks, Needed *int
	// RetryAfter is the Retry-After of a 429 (rate_limited), else 0.
	RetryAfter time.Duration
}

// Error is one line: the server's message, with the acks of a failed write.
func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Acks != nil && e.Needed != nil {
		msg += fmt.Sprintf(" (%d of %d acks)", *e.Acks, *e.Needed)
	}
	return msg
}

// Unwrap returns the sentinel of e's code (ErrNotFound, ...), if it has one.
func (e *APIError) Unwrap() error { return codeErrors[e.Code] }

// PutOptions are the optional parameters of a write. Zero values leave the
// node's defaults in place.
type PutOptions struct {
	TTL       time.Duration // expire the record after TTL; 0 = never
	W         int           // write quorum for this request; 0 = the node's
	IfVersion *uint64       // write only if the current version is this one
}

// Client talks to one node's HTTP API. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// NewClient returns a client for the API at baseURL ("http://127.0.0.1:5001";
// a bare host:port gets "http://") that sends token as a bearer token when
// it is not empty.
func NewClient(baseURL, token string) *Client {
	base := strings.TrimRight(baseURL, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return &Client{base: base, token: token, http: &http.Client{Timeout: clientTimeout}}
}

// BaseURL is the API URL the client talks to.
func (c *Client) BaseURL() string { return c.base }

// CloseIdleConnections closes the keep-alive connections the client holds.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// Put writes value under key and returns the new version and the acks.
func (c *Client) Put(ctx context.Context, key string, value []byte, opts PutOptions) (PutResponse, error) {
	q := url.Values{}
	if opts.TTL != 0 {
		q.Set("ttl", opts.TTL.String())
	}
	if opts.W != 0 {
		q.Set("w", strconv.Itoa(opts.W))
	}
	if opts.IfVersion != nil {
		q.Set("if_version", strconv.FormatUint(*opts.IfVersion, 10))
	}
	var out PutResponse
	err := c.doJSON(ctx, http.MethodPut, valuesPrefix+url.PathEscape(key), q, value, &out)
	return out, err
}

// PutBatch writes entries with one POST /v1/values: each entry is an
// independent put (the batch is not atomic), and the results come back in
// the order of entries. opts.TTL is the ttl of entries without their own,
// opts.W the write quorum of every entry; opts.IfVersion is not allowed.
// An error means that nothing was tried (a 4xx for the whole batch, a 429,
// an unreachable node) or that the reply could not be read; the entries'
// own failures are in their results (BatchResult.OK, Code, Error).
func (c *Client) PutBatch(ctx context.Context, entries []BatchEntry, opts PutOptions) ([]BatchResult, error) {
	if opts.IfVersion != nil {
		return nil, fmt.Errorf("%w: if_version is per key; a batch cannot carry it", ErrBadRequest)
	}
	q := url.Values{}
	if opts.TTL != 0 {
		q.Set("ttl", opts.TTL.String())
	}
	if opts.W != 0 {
		q.Set("w", strconv.Itoa(opts.W))
	}
	body, err := json.Marshal(BatchPutRequest{Values: entries})
	if err != nil {
		return nil, err
	}
	var out BatchPutResponse
	if err := c.doJSONAs(ctx, http.MethodPost, batchPath, q, body, "application/json", &out); err != nil {
		return nil, err
	}
	if len(out.Results) != len(entries) {
		return nil, fmt.Errorf("bad reply from %s%s: %d results for %d entries", c.base, batchPath, len(out.Results), len(entries))
	}
	return out.Results, nil
}

// Get reads key with read quorum r (0 = the node's default) and returns its
// value and version.
func (c *Client) Get(ctx context.Context, key string, r int) (value []byte, version uint64, err error) {
	q := url.Values{}
	if r != 0 {
		q.Set("r", strconv.Itoa(r))
	}
	resp, err := c.do(ctx, http.MethodGet, valuesPrefix+url.PathEscape(key), q, nil)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	value, err = readReply(resp)
	if err != nil {
		return nil, 0, err
	}
	version, err = strconv.ParseUint(resp.Header.Get(HeaderVersion), 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("bad %s header from %s: %q", HeaderVersion, c.base, resp.Header.Get(HeaderVersion))
	}
	return value, version, nil
}

// Delete writes a tombstone for key.
func (c *Client) Delete(ctx context.Context, key string) (DeleteResponse, error) {
	var out DeleteResponse
	err := c.doJSON(ctx, http.MethodDelete, valuesPrefix+url.PathEscape(key), nil, nil, &out)
	return out, err
}

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (StatusResponse, error) {
	var out StatusResponse
	err := c.doJSON(ctx, http.MethodGet, "/v1/status", nil, nil, &out)
	return out, err
}

// Peers returns the node's routing-table peers.
func (c *Client) Peers(ctx context.Context) ([]PeerResponse, error) {
	var out []PeerResponse
	err := c.doJSON(ctx, http.MethodGet, "/v1/peers", nil, nil, &out)
	return out, err
}

// Replicas asks key's holders what they store.
func (c *Client) Replicas(ctx context.Context, key string) (ReplicasResponse, error) {
	var out ReplicasResponse
	err := c.doJSON(ctx, http.MethodGet, replicasPrefix+url.PathEscape(key), nil, nil, &out)
	return out, err
}

// doJSON sends a request and decodes a successful JSON reply into out.
func (c *Client) doJSON(ctx context.Context, method, path string, q url.Values, body []byte, out any) error {
	return c.doJSONAs(ctx, method, path, q, body, "application/octet-stream", out)
}

// doJSONAs is doJSON with a body of the given content type.
func (c *Client) doJSONAs(ctx context.Context, method, path string, q url.Values, body []byte, contentType string, out any) error {
	resp, err := c.send(ctx, method, path, q, body, contentType)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := readReply(resp)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("bad reply from %s%s: %v", c.base, path, err)
	}
	return nil
}

// do sends a request to the escaped path and returns a 2xx response; any
// other status becomes an *APIError, and a transport failure ErrUnreachable.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte) (*http.Response, error) {
	return c.send(ctx, method, path, q, body, "application/octet-stream")
}

// send is do with a body of the given content type.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, body []byte, contentType string) (*http.Response, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("bad API URL %q: %v", c.base, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("request to %s: %w", c.base, ctxErr)
		}
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // drop the repeated method and URL
		}
		return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, c.base, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, c.apiError(resp)
}

// apiError turns an error reply into an *APIError.
func (c *Client) apiError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	e := &APIError{Status: resp.StatusCode}
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		e.RetryAfter = time.Duration(secs) * time.Second
	}
	var body ErrorResponse
	if json.Unmarshal(data, &body) == nil && body.Code != "" {
		e.Code, e.Message, e.Acks, e.Needed = body.Code, body.Error, body.Acks, body.Needed
		return e
	}
	snippet := strings.Join(strings.Fields(string(data)), " ")
	if len(snippet) > 200 {
		snippet = snippet[:200] + "..."
	}
	e.Message = fmt.Sprintf("unexpected reply from %s: HTTP %d %s", c.base, resp.StatusCode, http.StatusText(resp.StatusCode))
	if snippet != "" {
		e.Message += ": " + snippet
	}
	return e
}

// readReply reads a successful reply's body, bounded by maxReplyBytes.
func readReply(resp *http.Response) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading reply: %w", err)
	}
	if len(data) > maxReplyBytes {
		return nil, fmt.Errorf("reply larger than %d bytes", maxReplyBytes)
	}
	return data, nil
}
