package replication

// TEMPORARY: EachInRange, onChange and Counts over the old kad-dht layout,
// until the store owns its layout (branch i17s), whose versions replace this
// file. Correct but slow: EachInRange walks every record and sorts a range.

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	ds "github.com/ipfs/go-datastore"
	kb "github.com/libp2p/go-libp2p-kbucket"
	recpb "github.com/libp2p/go-libp2p-record/pb"
	"google.golang.org/protobuf/proto"
)

// EachInRange calls fn, in kad-ID byte order, for every stored record whose
// kad ID lies in [lo, hi) (hi == nil: to the end of the key space). size is
// the stored size in bytes. Entries that do not decode are skipped.
func (s *Store) EachInRange(ctx context.Context, lo, hi []byte, fn func(id []byte, r *Record, size int) error) error {
	type entry struct {
		id   []byte
		r    *Record
		size int
	}
	var in []entry
	err := s.Each(ctx, func(r *Record, size int) error {
		id := kb.ConvertKey(DHTKey(r.Key))
		if bytes.Compare(id, lo) >= 0 && (hi == nil || bytes.Compare(id, hi) < 0) {
			in = append(in, entry{id, r, size})
		}
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(in, func(a, b entry) int { return bytes.Compare(a.id, b.id) })
	for _, e := range in {
		if err := fn(e.id, e.r, e.size); err != nil {
			return err
		}
	}
	return nil
}

// onChange registers fn, called on every change of a stored record with its
// kad ID, user key and wire form before and after (nil = absent).
func (s *Store) onChange(fn func(id []byte, key string, old, new []byte)) {
	h, ok := s.dstore.orderedDatastore.Batching.(*changeHook)
	if !ok {
		h = &changeHook{Batching: s.dstore.orderedDatastore.Batching}
		s.dstore.orderedDatastore.Batching = h
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fns = append(h.fns, fn)
}

// Counts returns the number of records and their stored bytes.
func (s *Store) Counts() (records int, bytes int64) {
	_ = s.Each(context.Background(), func(_ *Record, size int) error {
		records++
		bytes += int64(size)
		return nil
	})
	return records, bytes
}

// changeHook sits under the ordered datastore (whose conditional writes
// call it under the key's lock) and reports the value records written.
type changeHook struct {
	ds.Batching
	mu  sync.Mutex
	fns []func(id []byte, key string, old, new []byte)
}

func (h *changeHook) Put(ctx context.Context, k ds.Key, value []byte) error {
	if !strings.HasPrefix(k.String(), valueKeyPrefix) {
		return h.Batching.Put(ctx, k, value)
	}
	old := h.current(ctx, k)
	if err := h.Batching.Put(ctx, k, value); err != nil {
		return err
	}
	h.notify(old, value)
	return nil
}

func (h *changeHook) Delete(ctx context.Context, k ds.Key) error {
	if !strings.HasPrefix(k.String(), valueKeyPrefix) {
		return h.Batching.Delete(ctx, k)
	}
	old := h.current(ctx, k)
	if err := h.Batching.Delete(ctx, k); err != nil {
		return err
	}
	h.notify(old, nil)
	return nil
}

func (h *changeHook) current(ctx context.Context, k ds.Key) []byte {
	old, err := h.Batching.Get(ctx, k)
	if errors.Is(err, ds.ErrNotFound) {
		return nil
	}
	return old
}

// notify decodes the stored forms before and after and calls the hooks.
func (h *changeHook) notify(oldStored, newStored []byte) {
	key, oldWire := wireOf(oldStored)
	newKey, newWire := wireOf(newStored)
	if key == "" {
		key = newKey
	}
	if key == "" || (oldWire == nil && newWire == nil) {
		return
	}
	id := kb.ConvertKey(DHTKey(key))
	h.mu.Lock()
	fns := h.fns
	h.mu.Unlock()
	for _, fn := range fns {
		fn(id, key, oldWire, newWire)
	}
}

// wireOf returns the user key and wire form of a stored record, or "" and
// nil if it does not decode.
func wireOf(stored []byte) (string, []byte) {
	if stored == nil {
		return "", nil
	}
	var pbrec recpb.Record
	if proto.Unmarshal(stored, &pbrec) != nil {
		return "", nil
	}
	key, err := UserKey(string(pbrec.GetKey()))
	if err != nil {
		return "", nil
	}
	if _, err := Unmarshal(key, pbrec.GetValue()); err != nil {
		return "", nil
	}
	return key, pbrec.GetValue()
}
