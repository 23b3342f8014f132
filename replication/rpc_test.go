package replication

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-msgio"
	ma "github.com/multiformats/go-multiaddr"
)

const testProto = "/dhtnode/test/record/1.0.0"

// rpcPair is a record-protocol client host talking to a server host over
// loopback TCP, the server answering from an in-memory store.
type rpcPair struct {
	client *rpcClient
	server host.Host
	store  *Store

	mu    sync.Mutex
	heard map[string]peer.ID // "client" and "server": whom each last heard from
}

// hearer returns a Heard callback that notes p under who.
func (p *rpcPair) hearer(who string) func(peer.ID) {
	return func(id peer.ID) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.heard[who] = id
	}
}

// newRPCPair starts the pair; nearer is the server's holder check (nil:
// a holder of every key).
func newRPCPair(t testing.TB, nearer func(key string) []peer.AddrInfo) *rpcPair {
	t.Helper()
	newHost := func() host.Host {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	ch, sh := newHost(), newHost()
	p := &rpcPair{server: sh, heard: make(map[string]peer.ID)}
	p.store = newMemStore(t, NewValidator(1024))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sh.SetStreamHandler(testProto, (&rpcServer{store: p.store, limit: 1024 + messageOverhead, heard: p.hearer("server"), nearer: nearer, ctx: ctx}).handle)
	ch.Peerstore().AddAddrs(sh.ID(), sh.Addrs(), time.Hour)
	p.client = newRPCClient(ch, testProto, 1024+messageOverhead, p.hearer("client"))
	t.Cleanup(p.client.close)
	return p
}

func TestRecordProtocolGetAndPut(t *testing.T) {
	p := newRPCPair(t, nil)
	tr := &transport{self: "not-the-server", store: p.store, client: p.client}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := p.server.ID()
	if r, err := tr.fetch(ctx, id, "k"); err != nil || r != nil {
		t.Fatalf("fetch of an absent key = %v, %v; want nil, nil", r, err)
	}
	priv := newKey(t)
	v2 := signed(t, priv, Record{Key: "k", Value: []byte("two"), Version: 2, WrittenAt: 2})
	if err := tr.push(ctx, id, v2); err != nil {
		t.Fatalf("push v2: %v", err)
	}
	got, err := tr.fetch(ctx, id, "k")
	if err != nil || got == nil || got.Compare(v2) != 0 || !bytes.Equal(got.Value, v2.Value) {
		t.Fatalf("fetch after push = %+v, %v; want v2", got, err)
	}
	v1 := signed(t, priv, Record{Key: "k", Value: []byte("one"), Version: 1, WrittenAt: 1})
	if err := tr.push(ctx, id, v1); !errors.Is(err, errStale) {
		t.Fatalf("push of an older version: %v, want errStale", err)
	}
	forged := *v2
	forged.Version = 3 // the signature no longer covers it
	if err := tr.push(ctx, id, &forged); err == nil {
		t.Fatal("push of a forged record was accepted")
	}
	if got, _ := p.store.Get(ctx, "k"); got.Version != 2 {
		t.Fatalf("stored version %d after the refused pushes, want 2", got.Version)
	}
	// All of the above ran one request at a time: one stream, reused.
	if n := len(p.client.idle[id]); n != 1 {
		t.Fatalf("%d pooled streams, want 1", n)
	}
	// Both sides count the exchange as proof that the other is alive.
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.heard["client"] != id || p.heard["server"] != p.client.h.ID() {
		t.Fatalf("heard = %v, want the client to have heard the server and the server the client", p.heard)
	}
}

func TestRecordProtocolRetriesADeadPooledStream(t *testing.T) {
	p := newRPCPair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := p.server.ID()
	req := encodeRequest(opGet, "k", nil)
	if _, err := p.client.call(ctx, id, req); err != nil {
		t.Fatal(err)
	}
	p.client.idle[id][0].s.Reset() // as if the connection had dropped
	answer, err := p.client.call(ctx, id, req)
	if err != nil || answer[0] != statusNotFound {
		t.Fatalf("call after the pooled stream died = %v, %v; want a not-found answer", answer, err)
	}
}

func TestRecordProtocolAnswersMalformedRequests(t *testing.T) {
	p := newRPCPair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := p.client.h.NewStream(ctx, p.server.ID(), testProto)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	w, r := msgio.NewVarintWriter(s), msgio.NewVarintReaderSize(s, 1<<20)
	for name, req := range map[string][]byte{
		"short":       {opGet},
		"key overrun": {opGet, 9, 'k'},
		"bad key":     encodeRequest(opGet, "", nil),
		"unknown op":  encodeRequest(9, "k", nil),
		"bad record":  encodeRequest(opPut, "k", []byte("not a record")),
	} {
		if err := w.WriteMsg(req); err != nil {
			t.Fatalf("%s: write: %v", name, err)
		}
		answer, err := r.ReadMsg()
		if err != nil || len(answer) == 0 || answer[0] != statusInvalid {
			t.Fatalf("%s: answer %q, %v; want statusInvalid on a stream that stays open", name, answer, err)
		}
	}
}

func TestRecordProtocolReferral(t *testing.T) {
	other := peer.AddrInfo{ID: randomPeer(t), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4001")}}
	p := newRPCPair(t, func(key string) []peer.AddrInfo {
		if key == "far" {
			return []peer.AddrInfo{other}
		}
		return nil
	})
	tr := &transport{self: "not-the-server", store: p.store, client: p.client}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := p.server.ID()
	rec := signed(t, newKey(t), Record{Key: "far", Value: []byte("v"), Version: 1, WrittenAt: 1})

	var nh *errNotHolder
	if _, err := tr.read(ctx, id, "far"); !errors.As(err, &nh) || !slices.Equal(nh.nearer, []peer.ID{other.ID}) {
		t.Fatalf("read of a key the server does not hold: %v, want a referral to %s", err, other.ID)
	}
	if got := p.client.h.Peerstore().Addrs(other.ID); !slices.EqualFunc(got, other.Addrs, ma.Multiaddr.Equal) {
		t.Fatalf("learned addresses %v, want %v", got, other.Addrs)
	}
	if err := tr.write(ctx, id, rec); !errors.As(err, &nh) {
		t.Fatalf("write to a non-holder: %v, want a referral", err)
	}
	if got, _ := p.store.Get(ctx, "far"); got != nil {
		t.Fatal("a non-holder stored a write")
	}
	// Repair and audits use GET and PUT, which every peer serves.
	if err := tr.push(ctx, id, rec); err != nil {
		t.Fatalf("push to a non-holder: %v", err)
	}
	if got, err := tr.fetch(ctx, id, "far"); err != nil || got == nil {
		t.Fatalf("fetch from a non-holder = %v, %v; want its copy", got, err)
	}
	// A holder serves READ and WRITE as GET and PUT.
	near := signed(t, newKey(t), Record{Key: "near", Value: []byte("v"), Version: 1, WrittenAt: 1})
	if err := tr.write(ctx, id, near); err != nil {
		t.Fatalf("write to a holder: %v", err)
	}
	if got, err := tr.read(ctx, id, "near"); err != nil || got == nil || got.Compare(near) != 0 {
		t.Fatalf("read from a holder = %v, %v; want the record written", got, err)
	}
}

// A record request built in one allocation is the request of the record's
// wire form.
func TestEncodeRecordRequest(t *testing.T) {
	priv := newKey(t)
	for _, r := range []Record{
		{Key: "k", Value: []byte("v"), Version: 1, WrittenAt: 1},
		{Key: "dir/key", Value: bytes.Repeat([]byte{7}, 1024), Version: 1 << 40, WrittenAt: -5, ExpiresAt: 1 << 62},
		{Key: "gone", Deleted: true, Version: 3, WrittenAt: 9},
	} {
		rec := signed(t, priv, r)
		got, want := encodeRecordRequest(opCreate, rec), encodeRequest(opCreate, rec.Key, rec.Marshal())
		if !bytes.Equal(got, want) {
			t.Fatalf("encodeRecordRequest(%q) = %x; want %x", rec.Key, got, want)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add(encodeRequest(opGet, "k", nil))
	f.Add(encodeRequest(opPut, "dir/key", []byte("payload")))
	f.Add([]byte{opGet, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		op, key, payload, err := decodeRequest(msg)
		if err != nil {
			return
		}
		op2, key2, payload2, err := decodeRequest(encodeRequest(op, key, payload))
		if err != nil || op2 != op || key2 != key || !bytes.Equal(payload2, payload) {
			t.Fatalf("re-encoding %x does not decode to the same request: %v", msg, err)
		}
	})
}

// A peer that knows k+slack peers nearer a key refuses a PUT of it with a
// referral, so that no one parks records on arbitrary nodes; GET is served.
func TestRecordProtocolRefusesPutsFarFromTheKey(t *testing.T) {
	p := newRPCPair(t, nil)
	other := peer.AddrInfo{ID: randomPeer(t), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4001")}}
	far := func(key string) []peer.AddrInfo {
		if key == "far" {
			return []peer.AddrInfo{other}
		}
		return nil
	}
	p.server.SetStreamHandler(testProto, (&rpcServer{store: p.store, limit: 1024 + messageOverhead, farFrom: far, ctx: context.Background()}).handle)
	tr := &transport{self: "not-the-server", store: p.store, client: p.client}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id := p.server.ID()
	now := time.Now().UnixNano()
	var nh *errNotHolder
	if err := tr.push(ctx, id, signed(t, newKey(t), Record{Key: "far", Value: []byte("v"), Version: 1, WrittenAt: now})); !errors.As(err, &nh) {
		t.Fatalf("push of a key far from the server: %v, want a referral", err)
	}
	if got, _ := p.store.Get(ctx, "far"); got != nil {
		t.Fatal("a peer far from the key stored it")
	}
	if err := tr.push(ctx, id, signed(t, newKey(t), Record{Key: "near", Value: []byte("v"), Version: 1, WrittenAt: now})); err != nil {
		t.Fatalf("push of a key the server holds: %v", err)
	}
	if got, err := tr.fetch(ctx, id, "far"); err != nil || got != nil {
		t.Fatalf("fetch of a key far from the server = %v, %v; want none", got, err)
	}
}
