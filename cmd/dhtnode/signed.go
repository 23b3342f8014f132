package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/node"
	"github.com/dhtnode/dhtnode/replication"
)

// signedRetries bounds how often a signed write without --if-version
// re-reads the key and signs again after another write got in first.
const signedRetries = 3

// signedWrite is a put (or, with deleted, a del) signed here with priv
// instead of by the node: it reads the key's current version through the
// API, signs the next version locally and submits the record, which the
// node replicates as it is (PUT /v1/records/{key}).
func signedWrite(ctx context.Context, c *node.Client, priv crypto.PrivKey, key string, value []byte, deleted bool, ttl time.Duration, opts node.PutOptions) (node.PutResponse, error) {
	self, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return node.PutResponse{}, err
	}
	if owner, owned, err := replication.Owner(key); err != nil {
		return node.PutResponse{}, usageError{err}
	} else if owned && owner != self {
		return node.PutResponse{}, fmt.Errorf("%w: %q belongs to %s, the key file is %s's", node.ErrForbidden, key, owner, self)
	}
	for attempt := 0; ; attempt++ {
		version := uint64(1)
		switch cur, err := c.Record(ctx, key, 0); {
		case errors.Is(err, node.ErrNotFound):
		case err != nil:
			return node.PutResponse{}, fmt.Errorf("reading the current version: %w", err)
		default:
			version = cur.Version + 1
		}
		now := time.Now()
		rec := &replication.Record{Key: key, Value: value, Version: version, WrittenAt: now.UnixNano(), Deleted: deleted}
		if ttl > 0 {
			rec.ExpiresAt = now.Add(ttl).UnixNano()
		}
		if err := rec.Sign(priv); err != nil {
			return node.PutResponse{}, err
		}
		res, err := c.PutRecord(ctx, rec, opts)
		if errors.Is(err, node.ErrVersionConflict) && opts.IfVersion == nil && attempt < signedRetries {
			continue // written meanwhile: sign over the newer version
		}
		return res, err
	}
}
