package replication

import (
	"context"
	"log/slog"
	"reflect"
	"testing"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

// syncSeeds are sync requests of every part, for the fuzzers' corpora.
func syncSeeds(f *testing.F, rec *Record) [][]byte {
	var id [32]byte
	copy(id[:], kb.ConvertKey(DHTKey(rec.Key)))
	p := prefixOf(id[:], 5)
	reqs := []*syncRequest{
		{groups: []syncGroup{{prefixes: []prefix{{}}, digest: rangeDigest{count: 3}}}},
		{groups: []syncGroup{{prefixes: []prefix{p, prefixOf(id[:], 3).child(0)}}, {prefixes: []prefix{prefixOf(id[:], idBits)}}}},
		{push: []keyedWire{{key: rec.Key, wire: rec.Marshal()}, {key: "", wire: []byte{1}}}},
		{want: []syncWant{{prefix: p, ids: [][32]byte{id}}}},
	}
	var out [][]byte
	for _, q := range reqs {
		out = append(out, q.encode())
	}
	return append(out, []byte{}, []byte{syncVersion}, []byte{syncVersion, 1, 1, 3, 0xff, 0, 0}, []byte{2, 0, 0, 0})
}

// FuzzSyncRequest checks the request decoder on arbitrary bytes: no
// panic, and what it accepts encodes back to a request it decodes the same.
func FuzzSyncRequest(f *testing.F) {
	rec := signed(f, newKey(f), Record{Key: "k", Value: []byte("v"), Version: 1, WrittenAt: time.Now().UnixNano()})
	for _, s := range syncSeeds(f, rec) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		q, err := decodeSyncRequest(msg)
		if err != nil {
			return
		}
		again, err := decodeSyncRequest(q.encode())
		if err != nil || !reflect.DeepEqual(again, q) {
			t.Fatalf("%x decodes to %+v, which encodes to something else (%v)", msg, q, err)
		}
	})
}

// FuzzServeSync drives the responder's whole path — decode, digests,
// entries, verification of pushed records, wanted records — with arbitrary
// requests, and the initiator's answer decoder with arbitrary answers: no
// panic, always an answer, and nothing stored that fails validation.
func FuzzServeSync(f *testing.F) {
	priv := newKey(f)
	self, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		f.Fatal(err)
	}
	rec := signed(f, priv, Record{Key: "k", Value: []byte("v"), Version: 1, WrittenAt: time.Now().UnixNano()})
	for _, s := range syncSeeds(f, rec) {
		f.Add(s)
	}
	other := signed(f, priv, Record{Key: "other", Value: []byte("w"), Version: 2, WrittenAt: time.Now().UnixNano()})
	f.Fuzz(func(t *testing.T, msg []byte) {
		store := newMemStore(t, NewValidator(64))
		if _, err := store.Put(context.Background(), other); err != nil {
			t.Fatal(err)
		}
		m := newManager(Config{Factor: 1, RepairInterval: time.Hour}, self, priv, store, nil, &transport{self: self, store: store}, slog.New(slog.DiscardHandler))
		defer m.cancel()
		answer := m.serveSyncFrame(peer.ID("asker"), msg, nil)
		if len(answer) == 0 {
			t.Fatalf("empty answer to %x", msg)
		}
		req, err := decodeSyncRequest(msg)
		if err != nil {
			if answer[0] != statusInvalid {
				t.Fatalf("answer %d to a malformed request %x", answer[0], msg)
			}
			return
		}
		if _, err := decodeSyncAnswer(answer, req); err != nil {
			t.Fatalf("the answer to %x does not decode: %v", msg, err)
		}
		// The initiator's decoder, on the request's bytes taken as an answer.
		_, _ = decodeSyncAnswer(append([]byte{statusOK}, msg...), req)
		err = store.EachInRange(context.Background(), make([]byte, 32), nil, func(_ []byte, r *Record, _ int) error {
			return store.valid.check(r)
		})
		if err != nil {
			t.Fatalf("after %x the store holds a record that fails validation: %v", msg, err)
		}
	})
}
