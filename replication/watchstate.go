package replication

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// watchState is a node's watches: the keys its clients watch, its watch
// sessions to holders (watchsession.go) and, as a holder, the
// subscriptions it serves (holderHub).
type watchState struct {
	m     *Manager
	host  host.Host // opens subscription streams to holders
	hub   *holderHub
	proto protocol.ID
	limit int // largest watch message
	kick  chan struct{}
	local *localSubscriber

	mu       sync.Mutex
	keys     map[string]*keyWatch
	sessions map[peer.ID]*subSession
	clients  int
}

func newWatchState(m *Manager, h host.Host, proto protocol.ID, limit int) *watchState {
	ws := &watchState{m: m, host: h, proto: proto, limit: limit, kick: make(chan struct{}, 1),
		keys: make(map[string]*keyWatch), sessions: make(map[peer.ID]*subSession)}
	ws.hub = newHolderHub(m.ctx, m.store)
	ws.local = &localSubscriber{ws: ws}
	return ws
}

// handleStream serves a subscriber's watch stream (holder side).
func (ws *watchState) handleStream(s network.Stream) {
	ws.hub.handleWatch(s, ws.limit, ws.m.goTracked)
}

// localSubscriber is this node subscribed to its own copy of a key.
type localSubscriber struct{ ws *watchState }

func (l *localSubscriber) peerID() peer.ID { return l.ws.m.self }
func (l *localSubscriber) deliver(key string, rec []byte) bool {
	l.ws.dispatch(key, rec)
	return true
}

// dispatch takes a holder's notice about key: its record's wire bytes, or
// nil when it has none (which changes nothing: records are never un-had).
func (ws *watchState) dispatch(key string, data []byte) {
	if data == nil {
		return
	}
	ws.mu.Lock()
	kw := ws.keys[key]
	ws.mu.Unlock()
	if kw == nil {
		return
	}
	r, err := Unmarshal(key, bytes.Clone(data)) // data may be a pooled read buffer
	if err != nil || ws.m.authentic(r) != nil {
		ws.m.logger.Debug("watch: dropped an invalid record from a holder", "key", key, "error", err)
		return
	}
	kw.offer(r)
}

// authentic checks a record's owner and signature, but not its expiry: an
// expired record is a state a watch reports.
func (m *Manager) authentic(r *Record) error {
	if len(r.Value) > m.valid.MaxValueSize {
		return ErrTooLarge
	}
	if err := checkOwner(r); err != nil {
		return err
	}
	return m.valid.verified.verify(r)
}

// add starts a client watch of key, sharing the key's keyWatch.
func (ws *watchState) add(key string) (*Watch, error) {
	ws.mu.Lock()
	if ws.clients >= maxWatches {
		ws.mu.Unlock()
		return nil, fmt.Errorf("%w: this node serves %d", ErrTooManyWatches, maxWatches)
	}
	kw := ws.keys[key]
	created := kw == nil
	if created {
		if len(ws.keys) >= maxWatchedKeys {
			ws.mu.Unlock()
			return nil, fmt.Errorf("%w: this node watches %d keys", ErrTooManyWatches, maxWatchedKeys)
		}
		kw = &keyWatch{key: key, ws: ws, clients: make(map[*Watch]struct{}), holders: make(map[peer.ID]bool)}
		ws.keys[key] = kw
	}
	w := newWatch(kw)
	kw.mu.Lock()
	kw.clients[w] = struct{}{}
	if kw.ready {
		w.push(eventOf(kw.best, time.Now().UnixNano()))
	}
	kw.mu.Unlock()
	ws.clients++
	ws.mu.Unlock()
	if created && !ws.m.goTracked(func() { ws.start(kw) }) {
		w.end()
	}
	return w, nil
}

// start subscribes a new keyWatch to the key's holders, then reads the key
// from a read quorum, and sends the first state.
func (ws *watchState) start(kw *keyWatch) {
	ws.resync(kw)
	ctx, cancel := context.WithTimeout(ws.m.ctx, 2*ws.m.cfg.RPCTimeout)
	defer cancel()
	if r, err := ws.m.Current(ctx, kw.key, 0); err == nil && r != nil && ws.m.authentic(r) == nil {
		kw.offer(r)
	}
	kw.markReady()
}

// release drops a closed client watch; the last of a key unsubscribes
// from the key's holders.
func (ws *watchState) release(w *Watch) {
	kw := w.kw
	ws.mu.Lock()
	ws.clients--
	kw.mu.Lock()
	delete(kw.clients, w)
	last := len(kw.clients) == 0
	if last {
		kw.closed = true
		if kw.expiry != nil {
			kw.expiry.Stop()
		}
		kw.dropHeld()
	}
	kw.mu.Unlock()
	if last && ws.keys[kw.key] == kw {
		delete(ws.keys, kw.key)
	}
	ws.mu.Unlock()
	if !last {
		return
	}
	kw.syncMu.Lock() // a resync under way finishes first, and sees closed
	defer kw.syncMu.Unlock()
	for _, p := range kw.subscribed() {
		ws.unsubscribe(p, kw.key)
		kw.setHolder(p, false)
	}
}

// resync subscribes the keyWatch to the key's holders as this node sees
// them now and drops the subscriptions to peers that are no longer holders.
// A new subscription answers with the holder's copy: a re-read.
func (ws *watchState) resync(kw *keyWatch) {
	kw.syncMu.Lock()
	defer kw.syncMu.Unlock()
	if kw.isClosed() {
		return
	}
	holders := ws.m.router.closest(ws.m.ctx, DHTKey(kw.key), ws.m.cfg.Factor)
	current := kw.subscribed()
	for _, p := range holders {
		if !slices.Contains(current, p) && ws.subscribe(p, kw.key) {
			kw.setHolder(p, true)
		}
	}
	for _, p := range current {
		if !slices.Contains(holders, p) {
			ws.unsubscribe(p, kw.key)
			kw.setHolder(p, false)
		}
	}
	kw.mu.Lock()
	kw.want = len(holders)
	kw.mu.Unlock()
}

// subscribe subscribes to p's copy of key, reporting whether it could.
func (ws *watchState) subscribe(p peer.ID, key string) bool {
	if p == ws.m.self {
		return ws.hub.subscribe(ws.local, key)
	}
	ss, err := ws.session(p)
	if err != nil {
		ws.m.logger.Debug("watch: no session to a holder", "peer", p, "error", err)
		return false
	}
	return ss.sub(key)
}

func (ws *watchState) unsubscribe(p peer.ID, key string) {
	if p == ws.m.self {
		ws.hub.unsubscribe(ws.local, key)
		return
	}
	ws.mu.Lock()
	ss := ws.sessions[p]
	ws.mu.Unlock()
	if ss != nil {
		ss.unsub(key)
	}
}

// holderLost is told by a broken session of the keys it carried: they
// subscribe again (to the same peer, if it is still a holder) at once.
func (ws *watchState) holderLost(p peer.ID, keys []string) {
	ws.mu.Lock()
	for _, k := range keys {
		if kw := ws.keys[k]; kw != nil {
			kw.setHolder(p, false)
		}
	}
	ws.mu.Unlock()
	ws.poke()
}

// poke asks the watch loop to resync every watched key.
func (ws *watchState) poke() {
	select {
	case ws.kick <- struct{}{}:
	default:
	}
}

// run resyncs every watched key when poked (routing change, lost holder)
// and, every watchRetry, those still missing a holder subscription.
func (ws *watchState) run() {
	retry := time.NewTicker(watchRetry)
	defer retry.Stop()
	for {
		all := false
		select {
		case <-ws.m.ctx.Done():
			return
		case <-ws.kick:
			all = true
		case <-retry.C:
		}
		ws.mu.Lock()
		kws := make([]*keyWatch, 0, len(ws.keys))
		for _, kw := range ws.keys {
			kws = append(kws, kw)
		}
		ws.mu.Unlock()
		for _, kw := range kws {
			if all || kw.incomplete() {
				ws.resync(kw)
			}
		}
	}
}

// endAll ends every client watch.
func (ws *watchState) endAll() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, kw := range ws.keys {
		kw.mu.Lock()
		for w := range kw.clients {
			w.end()
		}
		kw.mu.Unlock()
	}
}

// close ends every watch and resets every session, so their readers return.
func (ws *watchState) close() {
	ws.endAll()
	ws.mu.Lock()
	sessions := make([]*subSession, 0, len(ws.sessions))
	for _, ss := range ws.sessions {
		sessions = append(sessions, ss)
	}
	ws.mu.Unlock()
	for _, ss := range sessions {
		ss.reset()
	}
}

func (ws *watchState) stats() WatchStats {
	ws.mu.Lock()
	st := WatchStats{Clients: ws.clients, Keys: len(ws.keys)}
	kws := make([]*keyWatch, 0, len(ws.keys))
	for _, kw := range ws.keys {
		kws = append(kws, kw)
	}
	ws.mu.Unlock()
	for _, kw := range kws {
		st.Subscriptions += len(kw.subscribed())
	}
	st.Served = ws.hub.served()
	return st
}
