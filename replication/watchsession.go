package replication

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-msgio"
)

// subSession is this node's watch stream to one holder, carrying its
// subscriptions to every watched key that peer holds.
type subSession struct {
	ws    *watchState
	peer  peer.ID
	ready chan struct{} // closed once the stream is open or failed
	err   error

	s   network.Stream
	wmu sync.Mutex // serialises writes
	w   msgio.Writer

	keys map[string]bool // guarded by ws.mu
	once sync.Once
}

// session returns the open session to p, opening one if there is none.
func (ws *watchState) session(p peer.ID) (*subSession, error) {
	ws.mu.Lock()
	ss := ws.sessions[p]
	if ss == nil {
		ss = &subSession{ws: ws, peer: p, ready: make(chan struct{}), keys: make(map[string]bool)}
		ws.sessions[p] = ss
		ws.mu.Unlock()
		ss.open()
	} else {
		ws.mu.Unlock()
	}
	select {
	case <-ss.ready:
	case <-ws.m.ctx.Done():
		return nil, errClosed
	}
	return ss, ss.err
}

func (ss *subSession) open() {
	defer close(ss.ready)
	ctx, cancel := context.WithTimeout(ss.ws.m.ctx, watchDialTimeout)
	defer cancel()
	s, err := ss.ws.host.NewStream(ctx, ss.peer, ss.ws.proto)
	if err == nil {
		ss.s, ss.w = s, msgio.NewVarintWriter(s)
		if !ss.ws.m.goTracked(ss.readLoop) {
			s.Reset()
			err = errClosed
		}
	}
	if err != nil {
		ss.err = err
		ss.ws.mu.Lock()
		if ss.ws.sessions[ss.peer] == ss {
			delete(ss.ws.sessions, ss.peer)
		}
		ss.ws.mu.Unlock()
	}
}

// readLoop hands the holder's notices to the watches until the stream
// breaks, then has the session's keys subscribe again.
func (ss *subSession) readLoop() {
	r := msgio.NewVarintReaderSize(ss.s, ss.ws.limit)
	for {
		msg, err := r.ReadMsg()
		if err != nil {
			ss.broken()
			return
		}
		kind, key, rec, err := decodeNotice(msg)
		if err != nil {
			r.ReleaseMsg(msg)
			ss.broken()
			return
		}
		switch kind {
		case watchRecord:
			ss.ws.dispatch(key, rec)
		case watchRefused:
			ss.ws.m.logger.Debug("watch: holder refused a subscription", "peer", ss.peer, "key", key, "error", errWatchRefused)
		}
		r.ReleaseMsg(msg) // dispatch keeps no reference to it
	}
}

// broken drops the session; its keys subscribe again.
func (ss *subSession) broken() {
	ws := ss.ws
	ws.mu.Lock()
	if ws.sessions[ss.peer] == ss {
		delete(ws.sessions, ss.peer)
	}
	keys := mapKeys(ss.keys)
	clear(ss.keys)
	ws.mu.Unlock()
	ss.reset()
	if len(keys) > 0 {
		ws.holderLost(ss.peer, keys)
	}
}

func (ss *subSession) reset() {
	ss.once.Do(func() {
		if ss.s != nil {
			ss.s.Reset()
		}
	})
}

// sub subscribes to key on this session's holder.
func (ss *subSession) sub(key string) bool {
	ss.ws.mu.Lock()
	ss.keys[key] = true
	ss.ws.mu.Unlock()
	if err := ss.write(encodeRequest(watchSub, key, nil)); err != nil {
		ss.broken()
		return false
	}
	return true
}

// unsub ends the subscription to key; a session left without keys closes.
func (ss *subSession) unsub(key string) {
	ws := ss.ws
	ws.mu.Lock()
	delete(ss.keys, key)
	idle := len(ss.keys) == 0
	if idle && ws.sessions[ss.peer] == ss {
		delete(ws.sessions, ss.peer)
	}
	ws.mu.Unlock()
	if idle {
		ss.reset()
		return
	}
	if err := ss.write(encodeRequest(watchUnsub, key, nil)); err != nil {
		ss.broken()
	}
}

func (ss *subSession) write(msg []byte) error {
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	_ = ss.s.SetWriteDeadline(time.Now().Add(watchWriteTimeout))
	return ss.w.WriteMsg(msg)
}
