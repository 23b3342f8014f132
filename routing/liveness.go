package routing

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// PeerHealth is what the prober knows about one routing-table peer.
type PeerHealth struct {
	// LastSeen is when the peer last answered a probe or a kad-dht query.
	LastSeen time.Time
	// RTT is the round-trip time of the latest successful probe.
	RTT time.Duration
	// ConsecutiveFailures counts failed probes since the last answer.
	ConsecutiveFailures int
	// Suspect is true while the latest probe(s) failed.
	Suspect bool
}

// liveness is the failure detector's decision table: it holds each peer's
// health and decides eviction. It does no I/O, takes the time as a
// parameter and is not safe for concurrent use.
type liveness struct {
	maxFailures int
	peers       map[peer.ID]*PeerHealth
	suspects    int // peers in peers with Suspect set
}

func newLiveness(maxFailures int) *liveness {
	return &liveness{maxFailures: max(maxFailures, 1), peers: make(map[peer.ID]*PeerHealth)}
}

// Observe records one probe outcome for p. A success (however slow) clears
// the suspicion; rtt <= 0 keeps the previous RTT (a kad-dht query counted as
// an answer measures none). A failure marks p Suspect. It returns true when p
// has now failed maxFailures probes in a row: p is then forgotten and the
// caller evicts it.
func (l *liveness) Observe(p peer.ID, ok bool, rtt time.Duration, now time.Time) (evict bool) {
	h := l.peers[p]
	if h == nil {
		h = &PeerHealth{}
		l.peers[p] = h
	}
	if ok {
		if now.After(h.LastSeen) {
			h.LastSeen = now
		}
		if rtt > 0 {
			h.RTT = rtt
		}
		h.ConsecutiveFailures = 0
		l.setSuspect(h, false)
		return false
	}
	h.ConsecutiveFailures++
	l.setSuspect(h, true)
	if h.ConsecutiveFailures >= l.maxFailures {
		l.Forget(p)
		return true
	}
	return false
}

func (l *liveness) setSuspect(h *PeerHealth, suspect bool) {
	switch {
	case suspect && !h.Suspect:
		l.suspects++
	case !suspect && h.Suspect:
		l.suspects--
	}
	h.Suspect = suspect
}

// Forget drops p, e.g. once it left the routing table.
func (l *liveness) Forget(p peer.ID) {
	if h, ok := l.peers[p]; ok {
		l.setSuspect(h, false)
		delete(l.peers, p)
	}
}

// Suspects is how many tracked peers are suspect now.
func (l *liveness) Suspects() int { return l.suspects }

// Health returns a copy of p's state.
func (l *liveness) Health(p peer.ID) (PeerHealth, bool) {
	h, ok := l.peers[p]
	if !ok {
		return PeerHealth{}, false
	}
	return *h, true
}

// maxProbeTimeout caps the per-probe timeout: a peer that needs longer than
// this to answer a ping on a LAN is not worth keeping in the table.
const maxProbeTimeout = 2 * time.Second

// probeTimeout is how long one probe may take: half the probe interval,
// capped at maxProbeTimeout, so a probe always ends before the next round.
func probeTimeout(interval time.Duration) time.Duration {
	return min(interval/2, maxProbeTimeout)
}

// reprobeDelay is how soon a suspect peer is probed again: a tenth of the
// interval (at least 20ms, at most a second), so that a dead peer is
// confirmed quickly while one lost packet or a GC pause is ridden out.
func reprobeDelay(interval time.Duration) time.Duration {
	return min(max(interval/10, 20*time.Millisecond), time.Second)
}

// freshWindow is how recent a successful kad-dht query to a peer must be for
// it to count as alive without a probe: half the interval, so that a peer
// that died right after a query still gets probed within about 1.5 intervals.
func freshWindow(interval time.Duration) time.Duration { return interval / 2 }

// nextBackoff doubles cur within [lo, hi].
func nextBackoff(cur, lo, hi time.Duration) time.Duration {
	return min(max(2*cur, lo), hi)
}
