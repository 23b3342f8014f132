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
	// Disconnected is true from the moment the peer's last connection
	// closed until it answers a probe or connects again (or leaves the
	// table): a crashed peer's connections are reset by its kernel, so
	// this is the first sign of a death. It is a doubt, not a verdict:
	// reads and writes still use the peer (IsSuspect does not count it),
	// only replication's under-replicated count does (Manager.IsDoubted).
	Disconnected bool
}

// liveness is the failure detector's decision table: it holds each peer's
// health and decides eviction. It does no I/O, takes the time as a
// parameter and is not safe for concurrent use.
type liveness struct {
	maxFailures int
	peers       map[peer.ID]*PeerHealth
	suspects    int // peers in peers with Suspect set
	doubts      int // peers in peers with Suspect or Disconnected set
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
		l.set(h, false, false)
		return false
	}
	h.ConsecutiveFailures++
	l.set(h, true, h.Disconnected)
	if h.ConsecutiveFailures >= l.maxFailures {
		l.Forget(p)
		return true
	}
	return false
}

// wouldEvict reports whether one more failed probe evicts p.
func (l *liveness) wouldEvict(p peer.ID) bool {
	h := l.peers[p]
	return h == nil && l.maxFailures <= 1 || h != nil && h.ConsecutiveFailures+1 >= l.maxFailures
}

// set sets h's Suspect and Disconnected flags and keeps the counts.
func (l *liveness) set(h *PeerHealth, suspect, disconnected bool) {
	doubted := h.Suspect || h.Disconnected
	switch {
	case suspect && !h.Suspect:
		l.suspects++
	case !suspect && h.Suspect:
		l.suspects--
	}
	switch now := suspect || disconnected; {
	case now && !doubted:
		l.doubts++
	case !now && doubted:
		l.doubts--
	}
	h.Suspect, h.Disconnected = suspect, disconnected
}

// Disconnected marks p Disconnected (its last connection closed), until an
// answer (Observe ok), a connection (Connected) or Forget.
func (l *liveness) Disconnected(p peer.ID) {
	h := l.peers[p]
	if h == nil {
		h = &PeerHealth{}
		l.peers[p] = h
	}
	l.set(h, h.Suspect, true)
}

// Connected clears p's Disconnected flag: it connected again (a dead
// process does not), though a failed probe keeps it Suspect.
func (l *liveness) Connected(p peer.ID) {
	if h := l.peers[p]; h != nil {
		l.set(h, h.Suspect, false)
	}
}

// Forget drops p, e.g. once it left the routing table.
func (l *liveness) Forget(p peer.ID) {
	if h, ok := l.peers[p]; ok {
		l.set(h, false, false)
		delete(l.peers, p)
	}
}

// Suspects is how many tracked peers are suspect now.
func (l *liveness) Suspects() int { return l.suspects }

// Doubts is how many tracked peers are suspect or disconnected now.
func (l *liveness) Doubts() int { return l.doubts }

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

// Local health (after Lifeguard's local health multiplier in HashiCorp's
// memberlist): a probe that times out may say more about this node than
// about the peer. A node starved of CPU (a loaded host, a noisy neighbour
// VM) reads its answers late, and its probes of live peers time out: at a
// seventh of a core, a test network of in-process nodes evicted live peers
// hundreds of times in two minutes. A starved node also notices its own
// deadlines late: a probe that failed and returned starvedLateness or more
// after its deadline raises the node's slowness by one, each answered
// probe lowers it by one, and a probe's timeout is probeTimeout times
// 1 + slowness, up to maxSlowness: on a starved node the re-probe that
// would evict a live peer waits long enough for its answer. A probe that
// fails on time (a dead or cut-off peer: memberlist tells those apart
// with indirect probes, which dhtnode does not have) changes nothing, so
// the minority side of a partition, whose probes nearly all time out,
// still evicts the other side at the base timeout. Starvation that only
// delays the answers, while this node still notices its deadlines on time,
// is not seen: under a CPU hog TestSlowPeerNotEvicted passed 12 of 18 runs
// with this rule and 16 of 27 without (5 of 6 with every timeout counted,
// which slowed the partition's minority past containertest's bound).

// maxSlowness bounds the slowness: a timeout at most 1+maxSlowness times
// the base (a silent dead peer is evicted at most that many times later).
const maxSlowness = 3

// starvedLateness is how long after its deadline a failed probe must
// return for this node to count itself starved: a tenth of the timeout,
// at least 10 ms (a healthy process returns within a millisecond).
func starvedLateness(timeout time.Duration) time.Duration {
	return max(timeout/10, 10*time.Millisecond)
}

// scaledProbeTimeout is the probe timeout at the given slowness.
func scaledProbeTimeout(interval time.Duration, slowness int) time.Duration {
	return probeTimeout(interval) * time.Duration(1+min(max(slowness, 0), maxSlowness))
}

// reprobeDelay is how soon a suspect peer is probed again: a tenth of the
// interval (at least 20ms, at most a second), so that a dead peer is
// confirmed quickly while one lost packet or a GC pause is ridden out.
func reprobeDelay(interval time.Duration) time.Duration {
	return min(max(interval/10, 20*time.Millisecond), time.Second)
}

// refusedReprobeDelay is how soon a peer whose probe every address refused
// is probed again: a tenth of reprobeDelay (at least 20ms, at most 100ms).
// Each refusal still counts as one failure (routing.probe_failures): only
// the wait between them is shorter, so a crashed peer is evicted, and its
// ranges repaired, about reprobeDelay sooner (450ms at the default
// interval), while a lost packet or a partition (timeouts) is ridden out
// as before.
func refusedReprobeDelay(interval time.Duration) time.Duration {
	return min(max(reprobeDelay(interval)/10, 20*time.Millisecond), 100*time.Millisecond)
}

// freshWindow is how recent a successful kad-dht query to a peer must be for
// it to count as alive without a probe: half the interval, so that a peer
// that died right after a query still gets probed within about 1.5 intervals.
func freshWindow(interval time.Duration) time.Duration { return interval / 2 }

// nextBackoff doubles cur within [lo, hi].
func nextBackoff(cur, lo, hi time.Duration) time.Duration {
	return min(max(2*cur, lo), hi)
}
