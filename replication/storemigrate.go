package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	ds "github.com/ipfs/go-datastore"
	recpb "github.com/libp2p/go-libp2p-record/pb"
	"google.golang.org/protobuf/proto"
)

// Store layout 1, which dhtnode used before the store owned its layout, is
// kad-dht's value store layout: a record is kad-dht's protobuf record (the
// DHT key, the wire form and a receive time) under "/v/<base32 of the DHT
// key>", and a set-aside record the same under "/dhtnode-set-aside/<base32>".
const (
	v1RecordPrefix = "/" + Namespace + "/"
	v1AsidePrefix  = "/dhtnode-set-aside/"
)

// migrateChunk is how many records move to the current layout per datastore batch.
const migrateChunk = 1000

// migrate moves every record of layout 1 to the current layout, a chunk per
// batch that writes the new entries and deletes the old ones together, and
// then writes the layout version. An interrupted migration resumes where it
// stopped when the store opens again. An old entry that does not decode is
// logged and left where it is.
func (s *Store) migrate(ctx context.Context) error {
	start := time.Now()
	moved, left := 0, 0
	for _, m := range []struct{ from, to string }{{v1RecordPrefix, recordPrefix}, {v1AsidePrefix, asidePrefix}} {
		err := s.inChunks(ctx, m.from, prefixEnd(m.from), migrateChunk, func(chunk []kv) error {
			n, err := s.migrateChunk(ctx, chunk, m.to)
			moved += n
			left += len(chunk) - n
			return err
		})
		if err != nil {
			return fmt.Errorf("moving the records to store layout %s: %w", layoutVersion, err)
		}
	}
	if err := s.d.Put(ctx, layoutKey, []byte(layoutVersion)); err != nil {
		return fmt.Errorf("writing the store layout version: %w", err)
	}
	if moved > 0 || left > 0 {
		s.logger.Info("records moved to store layout "+layoutVersion, "records", moved, "left_undecodable", left, "took", time.Since(start))
	}
	return nil
}

// migrateChunk moves the layout 1 entries of chunk to the current layout
// under prefix to, in one batch, and returns how many it moved.
func (s *Store) migrateChunk(ctx context.Context, chunk []kv, to string) (int, error) {
	b, err := s.d.Batch(ctx)
	if err != nil {
		return 0, err
	}
	var moved, bytes int64
	for _, e := range chunk {
		key, wire, err := decodeV1(e.v)
		if err != nil {
			s.logger.Warn("record of store layout 1 does not decode; left in place", "datastore_key", e.k, "error", err)
			continue
		}
		entry := encodeEntry(key, wire)
		if to == recordPrefix {
			s.present.add(kadID(key))
		}
		if err := errors.Join(b.Put(ctx, entryKey(to, kadID(key)), entry), b.Delete(ctx, ds.RawKey(e.k))); err != nil {
			return 0, err
		}
		moved++
		bytes += int64(len(entry))
	}
	if err := b.Commit(ctx); err != nil {
		return 0, err
	}
	if to == recordPrefix {
		s.records.Add(moved)
		s.bytes.Add(bytes)
	}
	return int(moved), nil
}

// decodeV1 returns the user key and wire form of a layout 1 entry.
func decodeV1(v []byte) (key string, wire []byte, err error) {
	var pbrec recpb.Record
	if err := proto.Unmarshal(v, &pbrec); err != nil {
		return "", nil, err
	}
	if key, err = UserKey(string(pbrec.GetKey())); err != nil {
		return "", nil, err
	}
	if _, err := Unmarshal(key, pbrec.GetValue()); err != nil {
		return "", nil, err
	}
	return key, pbrec.GetValue(), nil
}
