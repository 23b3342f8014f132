package replication

import (
	"errors"

	"github.com/dhtnode/dhtnode/internal/keyedrate"
	"github.com/libp2p/go-libp2p/core/peer"
)

// statusBusy answers a record request from a peer over its request rate
// (peerLimits): the request was not served, and the asker should count this
// holder as failed for it, not as misbehaving.
const statusBusy byte = 7

// errBusy is a holder's statusBusy answer.
var errBusy = errors.New("holder busy: over its request rate for this peer")

// Defaults of the per-peer request limit on the record protocol.
//
// The heaviest honest load one peer puts on another is a node writing for
// its clients into a network no bigger than k, where it sends every holder
// every write: at the 2,000 puts/s a node's API is meant to carry (issue
// 20), about 2,000 requests a second to each holder, plus repair pushes,
// themselves capped at repairPushRate (1,000/s). 5,000 a second with a
// burst of 10,000 is twice that, so a normal network does not reach it,
// while one peer cannot flood a node with more.
const (
	DefaultPeerRequestRate  = 5000
	DefaultPeerRequestBurst = 10000
)

// peerLimits is a token bucket per remote peer for record requests; nil
// allows everything.
type peerLimits struct{ lim *keyedrate.Limiter[peer.ID] }

// newPeerLimits allows each peer perSecond requests a second with bursts of
// burst; a rate of 0 or less means no limit (nil).
func newPeerLimits(perSecond float64, burst int) *peerLimits {
	lim := keyedrate.New[peer.ID](perSecond, burst)
	if lim == nil {
		return nil
	}
	return &peerLimits{lim: lim}
}

// allow reports whether p may make one more request now.
func (l *peerLimits) allow(p peer.ID) bool {
	if l == nil {
		return true
	}
	ok, _ := l.lim.Allow(p)
	return ok
}
