package replication

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-msgio"
)

// Holder-side bounds of the watch protocol.
const (
	// maxServedPerPeer bounds the keys one peer may watch on this holder.
	maxServedPerPeer = 10000
	// maxServedTotal bounds the subscriptions this holder serves in all.
	maxServedTotal = 100000
	// noticeQueue is how many notices may wait for a slow subscriber
	// before its stream is reset (it then subscribes again and re-reads).
	noticeQueue = 256
	// watchWriteTimeout bounds one write of a watch message.
	watchWriteTimeout = 5 * time.Second
)

// subscriber receives a holder's notices about the keys it subscribed to:
// a record's wire bytes, or nil when the holder has none. deliver must not
// block; it reports false when the subscriber is gone.
type subscriber interface {
	deliver(key string, rec []byte) bool
	peerID() peer.ID
}

// holderHub is the holder side of watches: who subscribed to which key,
// told by the store of every stored record (Store.onChange).
type holderHub struct {
	store *Store
	ctx   context.Context

	mu      sync.Mutex
	byKey   map[string]map[subscriber]bool // user key → subscribers
	perPeer map[peer.ID]int
	total   int
}

func newHolderHub(ctx context.Context, store *Store) *holderHub {
	h := &holderHub{store: store, ctx: ctx, byKey: make(map[string]map[subscriber]bool), perPeer: make(map[peer.ID]int)}
	store.onChange(h.stored)
	return h
}

// subscribe registers sub for key and delivers the holder's current record
// of it. Registering comes first, so a write in between is delivered too
// (the subscriber keeps the newest of what it gets). It reports false when
// a limit refuses the subscription.
func (h *holderHub) subscribe(sub subscriber, key string) bool {
	h.mu.Lock()
	subs := h.byKey[key]
	if !subs[sub] {
		if h.total >= maxServedTotal || h.perPeer[sub.peerID()] >= maxServedPerPeer {
			h.mu.Unlock()
			return false
		}
		if subs == nil {
			subs = make(map[subscriber]bool)
			h.byKey[key] = subs
		}
		subs[sub] = true
		h.total++
		h.perPeer[sub.peerID()]++
	}
	h.mu.Unlock()
	data, err := h.store.getBytes(h.ctx, key)
	if err != nil {
		data = nil // the subscriber reads the key from the other holders too
	}
	sub.deliver(key, data)
	return true
}

// unsubscribe drops sub's subscription to key, if any.
func (h *holderHub) unsubscribe(sub subscriber, key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.remove(sub, key)
}

func (h *holderHub) remove(sub subscriber, key string) {
	subs := h.byKey[key]
	if !subs[sub] {
		return
	}
	delete(subs, sub)
	if len(subs) == 0 {
		delete(h.byKey, key)
	}
	h.total--
	if h.perPeer[sub.peerID()]--; h.perPeer[sub.peerID()] <= 0 {
		delete(h.perPeer, sub.peerID())
	}
}

// unsubscribeAll drops every subscription of sub.
func (h *holderHub) unsubscribeAll(sub subscriber, keys []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range keys {
		h.remove(sub, k)
	}
}

// served is the number of subscriptions this holder serves.
func (h *holderHub) served() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}

// stored is told of every change of a stored record (Store.onChange) and
// notifies the key's subscribers of the record stored; a removal is not a
// notice (the other holders still have the key).
func (h *holderHub) stored(_ []byte, key string, _, rec []byte) {
	if rec == nil {
		return
	}
	h.mu.Lock()
	subs := h.byKey[key]
	if len(subs) == 0 {
		h.mu.Unlock()
		return
	}
	targets := make([]subscriber, 0, len(subs))
	for s := range subs {
		targets = append(targets, s)
	}
	h.mu.Unlock()
	for _, s := range targets {
		s.deliver(key, rec)
	}
}

// holderSession serves one subscriber's watch stream.
type holderSession struct {
	hub  *holderHub
	s    network.Stream
	peer peer.ID
	out  chan []byte
	once sync.Once
	dead chan struct{}
}

func (hs *holderSession) peerID() peer.ID { return hs.peer }

// deliver queues a notice; a subscriber too slow to take noticeQueue of
// them loses its stream, and subscribes again.
func (hs *holderSession) deliver(key string, rec []byte) bool {
	kind := watchRecord
	if rec == nil {
		kind = watchAbsent
	}
	return hs.send(encodeNotice(kind, key, rec))
}

func (hs *holderSession) send(msg []byte) bool {
	select {
	case <-hs.dead:
		return false
	case hs.out <- msg:
		return true
	default:
		hs.kill()
		return false
	}
}

func (hs *holderSession) kill() { hs.once.Do(func() { close(hs.dead); hs.s.Reset() }) }

// handleWatch serves a subscriber's stream until it closes: a reader of
// subscriptions (this goroutine) and a writer of notices.
func (h *holderHub) handleWatch(s network.Stream, limit int, track func(func()) bool) {
	hs := &holderSession{hub: h, s: s, peer: s.Conn().RemotePeer(), out: make(chan []byte, noticeQueue), dead: make(chan struct{})}
	if !track(hs.writeLoop) {
		s.Reset()
		return
	}
	keys := map[string]bool{}
	defer func() {
		h.unsubscribeAll(hs, mapKeys(keys))
		hs.kill()
	}()
	r := msgio.NewVarintReaderSize(s, limit)
	for {
		msg, err := r.ReadMsg()
		if err != nil {
			return
		}
		op, key, _, err := decodeRequest(msg)
		r.ReleaseMsg(msg)
		if err != nil || ValidateKey(key) != nil {
			return
		}
		switch op {
		case watchSub:
			if keys[key] {
				continue
			}
			if !h.subscribe(hs, key) {
				hs.send(encodeNotice(watchRefused, key, nil))
				continue
			}
			keys[key] = true
		case watchUnsub:
			h.unsubscribe(hs, key)
			delete(keys, key)
		default:
			return
		}
	}
}

func (hs *holderSession) writeLoop() {
	w := msgio.NewVarintWriter(hs.s)
	for {
		select {
		case <-hs.dead:
			return
		case <-hs.hub.ctx.Done():
			hs.kill()
			return
		case msg := <-hs.out:
			_ = hs.s.SetWriteDeadline(time.Now().Add(watchWriteTimeout))
			if err := w.WriteMsg(msg); err != nil {
				hs.kill()
				return
			}
		}
	}
}

func mapKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
