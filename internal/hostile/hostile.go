// Package hostile is a misbehaving dhtnode peer for tests. It joins a
// network as a server-mode kad-dht peer, so honest nodes put it in their
// routing tables and take it for a holder of keys, and answers every
// record-protocol request (replication/rpc.go) badly, cycling through its
// behaviours: forged, expired, oversized, future-dated, overflowing,
// wrong-key and unsigned records, false referrals, garbage, truncated
// frames and slow answers. It speaks the wire format from its
// description, not through the replication package's internals.
package hostile

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-msgio"

	"github.com/dhtnode/dhtnode/replication"
)

// Behaviour is one way of answering a record request badly.
type Behaviour int

// The behaviours, in the order the peer cycles through them.
const (
	Forged        Behaviour = iota // a record whose signature is junk
	ForgedExpired                  // version 2^64-1, expires_at 1, junk signature
	Oversized                      // a signed record one byte over max_value_size
	FutureDated                    // a signed record written an hour from now
	Overflowing                    // a signed record at version 2^64-1
	WrongKey                       // a signed record of another key
	Unsigned                       // a record without a signature
	FalseReferral                  // "not a holder", naming made-up peers
	Garbage                        // random bytes
	Truncated                      // a frame announcing more bytes than follow, then a reset
	Slow                           // no answer until the asker gives up (SlowFor)
	// Behaviours is the number of behaviours.
	Behaviours
)

var names = [...]string{"forged", "forged-expired", "oversized", "future-dated", "overflowing",
	"wrong-key", "unsigned", "false-referral", "garbage", "truncated", "slow"}

func (b Behaviour) String() string { return names[b] }

// Record-protocol wire constants (replication/rpc.go describes the format).
const (
	opGet, opRead                           = 1, 3
	statusOK, statusNotHolder, statusExists = 0, 5, 6
)

// Config sets up a hostile peer.
type Config struct {
	Network      string          // the network's name, as in the nodes' config
	MaxValueSize int             // the nodes' replication.max_value_size
	Bootstrap    []peer.AddrInfo // nodes to join through
	SlowFor      time.Duration   // how long a slow answer takes; 0 = 6 s
}

// Peer is a running hostile peer.
type Peer struct {
	cfg    Config
	priv   crypto.PrivKey
	host   host.Host
	dht    *dht.IpfsDHT
	ctx    context.Context
	cancel context.CancelFunc

	next     atomic.Uint64
	answered [Behaviours]atomic.Uint64
}

// Start joins the network and serves the record protocol badly.
func Start(cfg Config) (*Peer, error) {
	if cfg.SlowFor == 0 {
		cfg.SlowFor = 6 * time.Second
	}
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	h, err := libp2p.New(libp2p.Identity(priv), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		return nil, err
	}
	prefix := protocol.ID("/dhtnode/" + cfg.Network)
	d, err := dht.New(h, dht.Mode(dht.ModeServer), dht.ProtocolPrefix(prefix), dht.DisableValues(),
		dht.DisableProviders(), dht.BootstrapPeers(cfg.Bootstrap...))
	if err != nil {
		h.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Peer{cfg: cfg, priv: priv, host: h, dht: d, ctx: ctx, cancel: cancel}
	h.SetStreamHandler(replication.ProtocolID(prefix), p.handle)
	for _, ai := range cfg.Bootstrap {
		if err := h.Connect(ctx, ai); err != nil {
			p.Close()
			return nil, fmt.Errorf("hostile peer: connect %s: %w", ai.ID, err)
		}
	}
	return p, nil
}

// ID is the peer's ID.
func (p *Peer) ID() peer.ID { return p.host.ID() }

// Host is the peer's libp2p host.
func (p *Peer) Host() host.Host { return p.host }

// Answered returns how many requests were answered with behaviour b.
func (p *Peer) Answered(b Behaviour) uint64 { return p.answered[b].Load() }

// Close stops the peer; its slow answers give up at once.
func (p *Peer) Close() error {
	p.cancel()
	return errors.Join(p.dht.Close(), p.host.Close())
}

// handle answers every request on s badly, until the asker closes it or
// the peer misbehaves in a way that ends the stream.
func (p *Peer) handle(s network.Stream) {
	defer s.Reset()
	r := msgio.NewVarintReaderSize(s, p.cfg.MaxValueSize+128<<10)
	w := msgio.NewVarintWriter(s)
	for {
		msg, err := r.ReadMsg()
		if err != nil || len(msg) < 2 {
			return
		}
		op := msg[0]
		n, used := binary.Uvarint(msg[1:])
		if used <= 0 || n > uint64(len(msg)-1-used) {
			return
		}
		key := string(msg[1+used : 1+used+int(n)])
		r.ReleaseMsg(msg)
		b := Behaviour(p.next.Add(1) % uint64(Behaviours))
		p.answered[b].Add(1)
		if !p.answer(s, w, b, op, key) {
			return
		}
	}
}

// answer sends one bad answer; false ends the stream.
func (p *Peer) answer(s network.Stream, w msgio.WriteCloser, b Behaviour, op byte, key string) bool {
	switch b {
	case Garbage:
		junk := make([]byte, 1+int(p.next.Load()%64))
		_, _ = rand.Read(junk)
		return w.WriteMsg(junk) == nil
	case Truncated:
		frame := binary.AppendUvarint(nil, 1000)
		_, _ = s.Write(append(frame, statusOK, 1, 2, 3))
		return false
	case Slow:
		t := time.NewTimer(p.cfg.SlowFor)
		defer t.Stop()
		select {
		case <-t.C:
			return w.WriteMsg([]byte{statusOK}) == nil
		case <-p.ctx.Done():
			return false
		}
	case FalseReferral:
		return w.WriteMsg(p.falseReferral()) == nil
	}
	rec := p.badRecord(b, key).Marshal()
	status := byte(statusOK) // GET, READ: the record is the answer
	if op != opGet && op != opRead {
		status = statusExists // CREATE, SWAP: "I have this one"; PUT, WRITE: makes no sense
	}
	return w.WriteMsg(append([]byte{status}, rec...)) == nil
}

// badRecord returns a record of key that must not pass validation.
func (p *Peer) badRecord(b Behaviour, key string) *replication.Record {
	now := time.Now()
	r := &replication.Record{Key: key, Value: []byte("hostile"), Version: 2, WrittenAt: now.UnixNano()}
	switch b {
	case Forged:
		r.Version = uint64(now.UnixMicro()) // as high as a version may be
	case ForgedExpired:
		r.Version, r.ExpiresAt = math.MaxUint64, 1
	case Oversized:
		r.Value = make([]byte, p.cfg.MaxValueSize+1)
	case FutureDated:
		r.WrittenAt = now.Add(time.Hour).UnixNano()
	case Overflowing:
		r.Version = math.MaxUint64
	case WrongKey:
		r.Key = key + "/elsewhere"
	}
	_ = r.Sign(p.priv)
	r.Key = key // a wrong-key record is sent as the key asked for
	switch b {
	case Forged, ForgedExpired:
		r.Signature = []byte("junk signature")
	case Unsigned:
		r.Signature = nil
	}
	return r
}

// falseReferral names made-up peers (at the hostile peer's address, where
// their handshake fails) and the hostile peer itself.
func (p *Peer) falseReferral() []byte {
	const fakes = 8
	b := append([]byte{statusNotHolder}, binary.AppendUvarint(nil, fakes+1)...)
	addr := p.host.Addrs()[0].Bytes()
	for i := range fakes + 1 {
		id := p.host.ID()
		if i < fakes {
			_, pub, _ := crypto.GenerateEd25519Key(rand.Reader)
			id, _ = peer.IDFromPublicKey(pub)
		}
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
		b = binary.AppendUvarint(b, 1)
		b = binary.AppendUvarint(b, uint64(len(addr)))
		b = append(b, addr...)
	}
	return b
}
