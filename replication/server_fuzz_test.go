package replication

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// FuzzServe drives the whole record-protocol server path — decode, holder
// check, validate, store — with arbitrary requests: it never panics, always
// answers, and whatever it reports stored is a record that passes
// validation under the key asked for.
func FuzzServe(f *testing.F) {
	priv := newKey(f)
	now := time.Now().UnixNano()
	good := signed(f, priv, Record{Key: "k", Value: []byte("v"), Version: 1, WrittenAt: now})
	for _, op := range []byte{opGet, opPut, opRead, opWrite, opCreate, opSwap, 0, 7, 255} {
		f.Add(encodeRequest(op, "k", good.Marshal()))
	}
	f.Add(encodeRequest(opPut, "k", signed(f, priv, Record{Key: "k", Version: math.MaxUint64, WrittenAt: now}).Marshal()))
	f.Add(encodeRequest(opSwap, "k", signed(f, priv, Record{Key: "k", Version: 2, WrittenAt: now + int64(time.Hour)}).Marshal()))
	f.Add(encodeRequest(opCreate, "k", signed(f, priv, Record{Key: "other", Version: 1, WrittenAt: now}).Marshal()))
	f.Add(encodeRequest(opWrite, "far", good.Marshal()))
	f.Add(encodeRequest(opPut, "far", good.Marshal()))
	f.Add([]byte{opPut, 1, 'k', 1, 0xff})
	f.Add([]byte{})
	far := []peer.AddrInfo{{ID: peer.ID("far-peer"), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/1")}}}
	f.Fuzz(func(t *testing.T, msg []byte) {
		store := newMemStore(t, NewValidator(64))
		notFar := func(key string) []peer.AddrInfo {
			if key == "far" {
				return far
			}
			return nil
		}
		sv := &rpcServer{store: store, limit: 64 + messageOverhead, nearer: notFar, farFrom: notFar, ctx: context.Background()}
		answer := sv.serve(msg)
		if len(answer) == 0 {
			t.Fatalf("empty answer to %x", msg)
		}
		op, key, _, err := decodeRequest(msg)
		if err != nil || ValidateKey(key) != nil {
			if answer[0] != statusInvalid {
				t.Fatalf("answer %d to a malformed request %x", answer[0], msg)
			}
			return
		}
		stored, err := store.Get(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		if stored == nil {
			return
		}
		if key == "far" && op != opGet && op != opRead {
			t.Fatalf("a peer far from the key stored it (op %d)", op)
		}
		if answer[0] != statusOK {
			t.Fatalf("stored a record but answered %d", answer[0])
		}
		if err := store.valid.checkAnswer(stored); err != nil && !errors.Is(err, ErrExpired) {
			t.Fatalf("stored a record that fails validation: %v", err)
		}
	})
}
