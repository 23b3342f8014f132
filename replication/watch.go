package replication

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Watches, subscriber side. A client's Watch of a key shares one keyWatch
// with every other watch of that key on this node. The keyWatch subscribes
// to each of the key's holders over the watch protocol (watchsession.go;
// this node's own copy directly) and keeps the newest authentic record
// they report, each subscription answering first with the holder's copy.
// Its first state comes from a quorum read taken after the subscriptions,
// so no change falls between the two. When the holder set changes (a
// session to a holder breaks, or the routing table changes) the keyWatch
// subscribes to the new holders, which reads the key again from them, so
// the final state is always delivered. After the first state a watch sends
// one event per version (keyWatch.newer): of two records of one version,
// the first it gets.

// Subscriber-side bounds and timers.
const (
	// maxWatches bounds the client watches this node serves.
	maxWatches = 10000
	// maxWatchedKeys bounds the distinct keys they watch.
	maxWatchedKeys = 10000
	// watchEventQueue is how many events wait for a slow client; beyond
	// it the oldest are dropped (only the newest state of a key matters).
	watchEventQueue = 64
	// watchRetry is how often keys missing a holder subscription retry it.
	watchRetry = time.Second
	// watchDialTimeout bounds opening a watch stream to a holder.
	watchDialTimeout = 2 * time.Second
	// watchReorderWait is how long a record that skips versions is held
	// back, so that a version in between still on its way from a slower
	// holder is sent first: holders notify on separate streams, so two
	// writes in quick succession can arrive out of order.
	watchReorderWait = 100 * time.Millisecond
	// maxHeldVersions bounds the versions held back past a gap; one more
	// sends them at once.
	maxHeldVersions = watchEventQueue
)

// WatchKind says what a watch event reports.
type WatchKind int

// The kinds of watch events.
const (
	WatchValue   WatchKind = iota // a live value
	WatchDeleted                  // a tombstone
	WatchExpired                  // the value's expiry passed
	WatchAbsent                   // no holder has a record of the key
)

func (k WatchKind) String() string {
	return [...]string{"value", "deleted", "expired", "absent"}[k]
}

// WatchEvent is one state of a watched key: its record (nil when absent).
type WatchEvent struct {
	Kind   WatchKind
	Record *Record
}

func eventOf(r *Record, now int64) WatchEvent {
	switch {
	case r == nil:
		return WatchEvent{Kind: WatchAbsent}
	case r.Deleted:
		return WatchEvent{Kind: WatchDeleted, Record: r}
	case r.Expired(now):
		return WatchEvent{Kind: WatchExpired, Record: r}
	}
	return WatchEvent{Kind: WatchValue, Record: r}
}

// Watch is one client's watch of a key: first the key's current state,
// then one event per newer record. Close it when done.
type Watch struct {
	kw     *keyWatch
	signal chan struct{}
	once   sync.Once

	mu     sync.Mutex
	queue  []WatchEvent
	ended  bool
	closed bool
}

func newWatch(kw *keyWatch) *Watch { return &Watch{kw: kw, signal: make(chan struct{}, 1)} }

// push queues ev, dropping the oldest queued event when the queue is full.
func (w *Watch) push(ev WatchEvent) {
	w.mu.Lock()
	if len(w.queue) == watchEventQueue {
		w.queue = w.queue[1:]
	}
	w.queue = append(w.queue, ev)
	w.mu.Unlock()
	w.wake()
}

func (w *Watch) wake() {
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// end stops the watch from the node's side: Next returns ErrWatchClosed
// once the queue is drained.
func (w *Watch) end() {
	w.mu.Lock()
	w.ended = true
	w.mu.Unlock()
	w.wake()
}

// Next returns the next event, waiting for one until ctx ends or the watch
// is closed (ErrWatchClosed).
func (w *Watch) Next(ctx context.Context) (WatchEvent, error) {
	for {
		w.mu.Lock()
		switch {
		case w.closed:
			w.mu.Unlock()
			return WatchEvent{}, ErrWatchClosed
		case len(w.queue) > 0:
			ev := w.queue[0]
			w.queue = w.queue[1:]
			w.mu.Unlock()
			return ev, nil
		case w.ended:
			w.mu.Unlock()
			return WatchEvent{}, ErrWatchClosed
		}
		w.mu.Unlock()
		select {
		case <-w.signal:
		case <-ctx.Done():
			return WatchEvent{}, ctx.Err()
		}
	}
}

// Close ends the watch; the last watch of a key unsubscribes from its holders.
func (w *Watch) Close() {
	w.once.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		w.wake()
		w.kw.ws.release(w)
	})
}

// keyWatch is this node's subscription to one key's holders, shared by
// every client watch of the key.
type keyWatch struct {
	key string
	ws  *watchState

	syncMu sync.Mutex // serialises holder (re)subscription

	mu      sync.Mutex
	best    *Record
	ready   bool // the first state was sent
	closed  bool
	clients map[*Watch]struct{}
	holders map[peer.ID]bool // holders subscribed to
	want    int              // holders it should be subscribed to
	expiry  *time.Timer
	held    map[uint64]*Record // records past a gap, by version, held back (watchReorderWait)
	reorder *time.Timer        // sends held when it fires
	heldGen uint64             // counts dropHeld calls, so a stale reorder timer does nothing
}

// offer takes a holder's authentic record of the key and, if it is newer
// than the best so far, sends it to the clients. Once the first state was
// sent, a record that skips a version is held back for up to
// watchReorderWait, so that the versions in between, if they come, are
// sent first; every version held is sent, in order, when the gap before it
// closes or the wait ends. A version that has not come by then is skipped:
// holders keep only a key's latest record, so it may be gone for good, and
// the client sees the gap in the event ids (versions).
func (kw *keyWatch) offer(r *Record) {
	kw.mu.Lock()
	defer kw.mu.Unlock()
	if kw.closed || !kw.newer(r) {
		return
	}
	if kw.ready && kw.best != nil && r.Version > kw.best.Version+1 {
		if kw.held == nil {
			kw.held = make(map[uint64]*Record)
		}
		if _, ok := kw.held[r.Version]; !ok { // of two records of a version, the first
			kw.held[r.Version] = r
		}
		switch {
		case len(kw.held) > maxHeldVersions:
			kw.sendAllHeld()
		case kw.reorder == nil:
			gen := kw.heldGen
			kw.reorder = time.AfterFunc(watchReorderWait, func() { kw.sendHeld(gen) })
		}
		return
	}
	kw.accept(r)
	kw.sendNextHeld()
}

// sendNextHeld sends the held versions that now follow the best one
// without a gap, and forgets those no longer newer.
func (kw *keyWatch) sendNextHeld() {
	for len(kw.held) > 0 {
		for v := range kw.held {
			if v <= kw.best.Version {
				delete(kw.held, v)
			}
		}
		next, ok := kw.held[kw.best.Version+1]
		if !ok {
			break
		}
		delete(kw.held, next.Version)
		kw.accept(next)
	}
	if len(kw.held) == 0 {
		kw.dropHeld()
	}
}

// sendAllHeld sends every held version in order, past the gaps before
// them, which it logs.
func (kw *keyWatch) sendAllHeld() {
	versions := make([]uint64, 0, len(kw.held))
	for v := range kw.held {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	for _, v := range versions {
		r := kw.held[v]
		if !kw.newer(r) {
			continue
		}
		if kw.best != nil && v > kw.best.Version+1 && kw.ws != nil {
			kw.ws.m.logger.Debug("watch: versions skipped", "key", kw.key, "after", kw.best.Version, "next", v)
		}
		kw.accept(r)
	}
	kw.dropHeld()
}

// newer reports whether r is a state the clients have not seen. Until the
// first state is sent, that is any record that wins over the best so far
// (Record.Compare), so the first state is the key's winning record. After
// it, only a higher version is: a watch sends one event per version (SPEC
// §8, the event id is the version), and a second record of a version it
// sent, from a concurrent writer, is not a new version.
func (kw *keyWatch) newer(r *Record) bool {
	switch {
	case kw.best == nil:
		return true
	case kw.ready:
		return r.Version > kw.best.Version
	}
	return r.Compare(kw.best) > 0
}

// accept makes r the best record and sends it if the first state was sent.
func (kw *keyWatch) accept(r *Record) {
	kw.best = r
	if kw.ready {
		kw.broadcast(eventOf(r, time.Now().UnixNano()))
		kw.armExpiry()
	}
}

// sendHeld sends the held records once their wait is over, unless they
// were sent or dropped since the timer of generation gen was armed.
func (kw *keyWatch) sendHeld(gen uint64) {
	kw.mu.Lock()
	defer kw.mu.Unlock()
	if !kw.closed && gen == kw.heldGen {
		kw.sendAllHeld()
	}
}

// dropHeld forgets the held records and stops their timer.
func (kw *keyWatch) dropHeld() {
	kw.held = nil
	kw.heldGen++
	if kw.reorder != nil {
		kw.reorder.Stop()
		kw.reorder = nil
	}
}

// markReady sends the first state to the clients waiting for it.
func (kw *keyWatch) markReady() {
	kw.mu.Lock()
	defer kw.mu.Unlock()
	if kw.closed || kw.ready {
		return
	}
	kw.ready = true
	kw.broadcast(eventOf(kw.best, time.Now().UnixNano()))
	kw.armExpiry()
}

func (kw *keyWatch) broadcast(ev WatchEvent) {
	for w := range kw.clients {
		w.push(ev)
	}
}

// armExpiry schedules an expired event at the best record's expiry.
func (kw *keyWatch) armExpiry() {
	if kw.expiry != nil {
		kw.expiry.Stop()
		kw.expiry = nil
	}
	r := kw.best
	if r == nil || r.Deleted || r.ExpiresAt == 0 {
		return
	}
	wait := time.Until(time.Unix(0, r.ExpiresAt))
	if wait <= 0 {
		return // already sent as expired
	}
	kw.expiry = time.AfterFunc(wait, func() {
		kw.mu.Lock()
		defer kw.mu.Unlock()
		if !kw.closed && kw.best == r {
			kw.broadcast(WatchEvent{Kind: WatchExpired, Record: r})
		}
	})
}

func (kw *keyWatch) subscribed() []peer.ID {
	kw.mu.Lock()
	defer kw.mu.Unlock()
	out := make([]peer.ID, 0, len(kw.holders))
	for p := range kw.holders {
		out = append(out, p)
	}
	return out
}

func (kw *keyWatch) setHolder(p peer.ID, on bool) {
	kw.mu.Lock()
	defer kw.mu.Unlock()
	if on {
		kw.holders[p] = true
	} else {
		delete(kw.holders, p)
	}
}

// incomplete reports whether some holder subscription is missing.
func (kw *keyWatch) incomplete() bool {
	kw.mu.Lock()
	defer kw.mu.Unlock()
	return !kw.closed && len(kw.holders) < kw.want
}

func (kw *keyWatch) isClosed() bool {
	kw.mu.Lock()
	defer kw.mu.Unlock()
	return kw.closed
}

// WatchStats counts this node's watches.
type WatchStats struct {
	Clients       int // client watches served
	Keys          int // distinct keys they watch
	Subscriptions int // holder subscriptions this node holds for them
	Served        int // subscriptions this node serves as a holder
}

// Watch starts a watch of key: its first event is the key's current state.
// It returns ErrTooManyWatches over the node's limits.
func (m *Manager) Watch(key string) (*Watch, error) {
	if err := ValidateKey(key); err != nil {
		return nil, err
	}
	return m.watch.add(key)
}

// StopWatches ends every client watch (Next returns ErrWatchClosed), for a
// node that is shutting down; new watches can still start.
func (m *Manager) StopWatches() { m.watch.endAll() }

// WatchStats returns the counts of this node's watches.
func (m *Manager) WatchStats() WatchStats { return m.watch.stats() }
