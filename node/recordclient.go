package node

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/dhtnode/dhtnode/replication"
)

// Record returns the current record of key as the node's read quorum (r;
// 0 = the node's default) sees it, tombstones and expired records included,
// or ErrNotFound when no holder has one. The record is decoded, not
// verified.
func (c *Client) Record(ctx context.Context, key string, r int) (*replication.Record, error) {
	q := url.Values{}
	if r != 0 {
		q.Set("r", strconv.Itoa(r))
	}
	resp, err := c.do(ctx, http.MethodGet, recordsPrefix+url.PathEscape(key), q, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := readReply(resp)
	if err != nil {
		return nil, err
	}
	return replication.Unmarshal(key, data)
}

// PutRecord submits a record signed by its writer (replication.Record.Sign)
// for the node to replicate as it is. opts.TTL must be zero: the expiry is
// the record's own signed ExpiresAt.
func (c *Client) PutRecord(ctx context.Context, rec *replication.Record, opts PutOptions) (PutResponse, error) {
	if opts.TTL != 0 {
		return PutResponse{}, errors.New("put record: the TTL of a signed record is its ExpiresAt")
	}
	q := url.Values{}
	if opts.W != 0 {
		q.Set("w", strconv.Itoa(opts.W))
	}
	if opts.IfVersion != nil {
		q.Set("if_version", strconv.FormatUint(*opts.IfVersion, 10))
	}
	var out PutResponse
	err := c.doJSON(ctx, http.MethodPut, recordsPrefix+url.PathEscape(rec.Key), q, rec.Marshal(), &out)
	return out, err
}
