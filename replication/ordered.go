package replication

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"sync"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p-kad-dht/records"
	recpb "github.com/libp2p/go-libp2p-record/pb"
	"google.golang.org/protobuf/proto"
)

// orderedDatastore refuses, with records.ErrOldRecord, to overwrite a stored
// value record with one that the validator's Select ranks lower. kad-dht's
// ValueStore checks the same before it writes, but each ValueStore
// serialises only its own Puts, and a node has two: kad-dht's, which stores
// peers' PUT_VALUE requests, and the Store's. Without this check a PUT_VALUE
// and a replication write of one key could both pass their checks and the
// older record land last. Batches pass unchecked: nothing batches value
// records.
type orderedDatastore struct {
	ds.Batching
	valid Validator
	locks [256]sync.Mutex
}

// valueKeyPrefix starts the datastore keys of value records (valueDsKey).
const valueKeyPrefix = "/" + Namespace + "/"

// Put stores value under k unless k holds a value record that beats it.
func (d *orderedDatastore) Put(ctx context.Context, k ds.Key, value []byte) error {
	if !strings.HasPrefix(k.String(), valueKeyPrefix) {
		return d.Batching.Put(ctx, k, value)
	}
	return d.atKey(ctx, k, func(stored []byte) error {
		if stored != nil && !d.beats(value, stored) {
			return records.ErrOldRecord
		}
		return d.Batching.Put(ctx, k, value)
	})
}

// deleteIf deletes k if gone(stored) holds for what k holds, with k's
// writes held off meanwhile, so that a record written in between is judged,
// not deleted blindly. It reports whether it deleted.
func (d *orderedDatastore) deleteIf(ctx context.Context, k ds.Key, gone func(stored []byte) bool) (deleted bool, err error) {
	err = d.atKey(ctx, k, func(stored []byte) error {
		if stored == nil || !gone(stored) {
			return nil
		}
		deleted = true
		return d.Batching.Delete(ctx, k)
	})
	return deleted, err
}

// putIfAbsent stores value under k unless k holds a live value record
// (live); then it stores nothing and returns that record's value.
func (d *orderedDatastore) putIfAbsent(ctx context.Context, k ds.Key, value []byte) (held []byte, err error) {
	err = d.atKey(ctx, k, func(stored []byte) error {
		if stored != nil {
			if current := cmp.Or(d.live(stored), ownedStored(stored)); current != nil {
				held = current.GetValue()
				return nil
			}
		}
		return d.Batching.Put(ctx, k, value)
	})
	return held, err
}

// putUnless stores value under k unless held, given what k holds, returns
// the bytes to answer with instead; then it stores nothing and returns them.
func (d *orderedDatastore) putUnless(ctx context.Context, k ds.Key, value []byte, held func(stored []byte) []byte) (answer []byte, err error) {
	err = d.atKey(ctx, k, func(stored []byte) error {
		if stored != nil {
			if answer = held(stored); answer != nil {
				return nil
			}
		}
		return d.Batching.Put(ctx, k, value)
	})
	return answer, err
}

// atKey runs fn with what k holds (nil if nothing) and k's writes held off
// until fn returns.
func (d *orderedDatastore) atKey(ctx context.Context, k ds.Key, fn func(stored []byte) error) error {
	lock := &d.locks[stripe(k.String())]
	lock.Lock()
	defer lock.Unlock()
	stored, err := d.Batching.Get(ctx, k)
	if errors.Is(err, ds.ErrNotFound) {
		stored, err = nil, nil
	}
	if err != nil {
		return err
	}
	return fn(stored)
}

// beats reports whether the stored form value (a kad-dht record) should
// replace stored. As in kad-dht's ValueStore, a stored record that is not
// live is replaced, and so is anything the validator cannot rank.
func (d *orderedDatastore) beats(value, stored []byte) bool {
	var incoming recpb.Record
	current := d.live(stored)
	if current == nil {
		current = ownedStored(stored) // owned keys: versions only grow, even past expiry (owner.go)
	}
	if current == nil || proto.Unmarshal(value, &incoming) != nil {
		return true
	}
	best, err := d.valid.Select(string(incoming.GetKey()), [][]byte{incoming.GetValue(), current.GetValue()})
	return err != nil || best == 0
}

// live decodes a stored record, or returns nil if it is unreadable or the
// validator rejects it (expired, say).
func (d *orderedDatastore) live(stored []byte) *recpb.Record {
	current := new(recpb.Record)
	if proto.Unmarshal(stored, current) != nil || d.valid.Validate(string(current.GetKey()), current.GetValue()) != nil {
		return nil
	}
	return current
}
