package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	dsq "github.com/ipfs/go-datastore/query"
	leveldb "github.com/ipfs/go-ds-leveldb"
	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// ErrStoreDamaged is a LevelDB store whose tables fail their checksums when
// the store opens (NewStore reads every entry once).
var ErrStoreDamaged = errors.New("datastore damaged")

// EachInRange calls fn, in kad-ID byte order, for every stored record whose
// kad ID lies in [lo, hi) (hi nil: to the end of the key space), with its
// stored size in bytes. It reads the records one by one, never the whole
// range at once (over LevelDB; the in-memory datastore holds everything in
// memory anyway). Entries that do not decode are logged, counted and skipped.
// An error from fn ends the walk and is returned.
func (s *Store) EachInRange(ctx context.Context, lo, hi []byte, fn func(id []byte, r *Record, size int) error) error {
	limit := prefixEnd(recordPrefix)
	if hi != nil {
		limit = entryPos(recordPrefix, hi)
	}
	return s.scan(ctx, entryPos(recordPrefix, lo), limit, false, func(k string, v []byte) error {
		id, r, err := decodeAt(recordPrefix, k, v)
		if err != nil {
			s.badEntry(k, err)
			return nil
		}
		return fn(id, r, len(v))
	})
}

// Each calls fn for every stored record, with its stored size in bytes, in
// kad-ID order (EachInRange over the whole key space).
func (s *Store) Each(ctx context.Context, fn func(r *Record, size int) error) error {
	return s.EachInRange(ctx, nil, nil, func(_ []byte, r *Record, size int) error { return fn(r, size) })
}

// decodeAt decodes the entry v stored under the datastore key k, k under
// prefix, and returns its kad ID and record.
func decodeAt(prefix, k string, v []byte) ([]byte, *Record, error) {
	id, err := idOf(prefix, k)
	if err != nil {
		return nil, nil, err
	}
	r, err := entryRecord(id, v)
	return id, r, err
}

// badEntry logs and counts an entry that does not decode. It stays in place:
// a write of its key replaces it, as repair does.
func (s *Store) badEntry(k string, err error) {
	s.logger.Warn("store entry does not decode; skipped until a write of its key replaces it",
		"datastore_key", k, "error", err, "bad_reads_total", s.corrupt.Add(1))
}

// scan calls fn for every datastore entry whose key lies in [start, limit)
// ("" limit: no end), in key order. Over LevelDB it walks an iterator, with
// every checksum verified if strict (a failure is ErrStoreDamaged); over any
// other datastore it runs a query, which holds the matches in memory.
func (s *Store) scan(ctx context.Context, start, limit string, strict bool, fn func(k string, v []byte) error) error {
	if l, ok := s.d.(*leveldb.Datastore); ok {
		return scanLevelDB(ctx, l.DB, start, limit, strict, fn)
	}
	res, err := s.d.Query(ctx, dsq.Query{Filters: []dsq.Filter{keyRange{start, limit}}, Orders: []dsq.Order{dsq.OrderByKey{}}})
	if err != nil {
		return err
	}
	defer res.Close()
	for e, ok := res.NextSync(); ok; e, ok = res.NextSync() {
		if e.Error != nil {
			return e.Error
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(e.Key, e.Value); err != nil {
			return err
		}
	}
	return nil
}

func scanLevelDB(ctx context.Context, db *goleveldb.DB, start, limit string, strict bool, fn func(k string, v []byte) error) error {
	r := &util.Range{Start: []byte(start)}
	if limit != "" {
		r.Limit = []byte(limit)
	}
	var ro *opt.ReadOptions
	if strict {
		ro = &opt.ReadOptions{Strict: opt.StrictAll}
	}
	it := db.NewIterator(r, ro)
	defer it.Release()
	for it.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(string(it.Key()), bytes.Clone(it.Value())); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		if strict {
			return fmt.Errorf("%w: %w", ErrStoreDamaged, err)
		}
		return err
	}
	return nil
}

// keyRange keeps the query entries whose key lies in [start, limit).
type keyRange struct{ start, limit string }

func (f keyRange) Filter(e dsq.Entry) bool {
	return e.Key >= f.start && (f.limit == "" || e.Key < f.limit)
}

// kv is one datastore entry.
type kv struct {
	k string
	v []byte
}

// errChunkFull ends a scan once a chunk is full.
var errChunkFull = errors.New("chunk full")

// inChunks scans [start, limit) in chunks of up to n entries and calls fn
// with each chunk after the scan that read it has ended, so fn may write
// the datastore.
func (s *Store) inChunks(ctx context.Context, start, limit string, n int, fn func([]kv) error) error {
	for {
		var chunk []kv
		err := s.scan(ctx, start, limit, false, func(k string, v []byte) error {
			chunk = append(chunk, kv{k, v})
			if len(chunk) == n {
				return errChunkFull
			}
			return nil
		})
		if err != nil && !errors.Is(err, errChunkFull) {
			return err
		}
		if len(chunk) == 0 {
			return nil
		}
		if err := fn(chunk); err != nil {
			return err
		}
		start = chunk[len(chunk)-1].k + "\x00"
	}
}
