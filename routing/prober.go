package routing

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"syscall"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
)

// maxConcurrentProbes bounds the probes in flight; with probes spread over
// the interval only a timeout storm (many dead peers) comes near it.
const maxConcurrentProbes = 32

// probeSlots is how many batches a round is split into. Probing a few peers
// at once instead of one at a time lets one wake-up of the process serve
// several probes and their answers: on a host running many nodes the
// wake-ups, not the probes' own work, are what an idle network costs.
const probeSlots = 5

// refillTimeout bounds one bucket-refill lookup (kad-dht's refresh query
// timeout is the same).
const refillTimeout = 10 * time.Second

type probeResult struct {
	p   peer.ID
	rtt time.Duration
	err error
	// late: the probe timed out and returned so long after its deadline
	// that this node itself was not running then (starved).
	late bool
}

// prober is the state of probeLoop; only that goroutine touches it.
type prober struct {
	queue    []peer.ID             // peers left in this round
	fresh    map[peer.ID]time.Time // last successful kad-dht query, per peer
	batch    int                   // peers visited per slot in this round
	step     time.Duration         // spacing of this round's slots
	next     time.Time             // when the next slot is due
	retries  map[peer.ID]time.Time // suspect or disconnected peers and when to re-probe them
	inflight map[peer.ID]bool
}

// probeLoop owns the probe schedule: one round visits every RT peer, in
// probeSlots batches spaced evenly over ProbeInterval; suspects are re-probed
// after reprobeDelay. An RT peer whose last connection closed is probed at
// once: a crashed or stopped peer's connections are reset by its kernel, so
// on a LAN it is usually detected well before its turn comes.
func (m *Manager) probeLoop() {
	results := make(chan probeResult)
	st := &prober{retries: make(map[peer.ID]time.Time), inflight: make(map[peer.ID]bool), next: time.Now()}
	timer := time.NewTimer(0)
	defer timer.Stop()
	var disconnects <-chan any // stays nil (never ready) without a subscription
	sub, err := m.h.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged),
		eventbus.Name("dhtnode/routing"), eventbus.BufSize(256))
	if err != nil {
		m.logger.Warn("no connection events; relying on periodic probes", "error", err)
	} else {
		defer sub.Close()
		disconnects = sub.Out()
	}
	for {
		select {
		case <-m.ctx.Done():
			return
		case e := <-disconnects:
			ev, _ := e.(event.EvtPeerConnectednessChanged)
			switch {
			case ev.Connectedness == network.Connected:
				m.connectedness(ev.Peer, true)
			case ev.Connectedness == network.NotConnected && m.members.has(ev.Peer):
				m.connectedness(ev.Peer, false) // doubted until it answers (IsDoubted)
				if _, retrying := st.retries[ev.Peer]; !retrying && !st.inflight[ev.Peer] {
					st.retries[ev.Peer] = time.Now()
				}
			}
		case r := <-results:
			delete(st.inflight, r.p)
			m.handleProbe(st, r)
		case <-timer.C:
			now := time.Now()
			for p, due := range st.retries {
				if !due.After(now) && len(st.inflight) < maxConcurrentProbes {
					delete(st.retries, p)
					m.startProbe(st, p, results)
				}
			}
			if !now.Before(st.next) {
				if len(st.queue) == 0 {
					m.newRound(st)
				}
				for i := 0; i < st.batch && len(st.queue) > 0 && len(st.inflight) < maxConcurrentProbes; i++ {
					p := st.queue[0]
					st.queue = st.queue[1:]
					m.visit(st, p, now, results)
				}
				st.next = now.Add(st.step)
			}
		}
		timer.Reset(time.Until(st.wake()))
	}
}

// wake is when the loop has work next. Due re-probes count only while a
// probe slot is free (a finishing probe wakes the loop anyway), so a full
// set of slow probes does not make the loop spin.
func (st *prober) wake() time.Time {
	wake := st.next
	if len(st.inflight) >= maxConcurrentProbes {
		return wake
	}
	for _, due := range st.retries {
		if due.Before(wake) {
			wake = due
		}
	}
	return wake
}

// newRound lists the RT peers in random order (so that nodes do not probe in
// lockstep) and notes when each last answered a kad-dht query.
func (m *Manager) newRound(st *prober) {
	infos := m.rt.GetPeerInfos()
	st.queue = make([]peer.ID, 0, len(infos))
	st.fresh = make(map[peer.ID]time.Time, len(infos))
	for _, pi := range infos {
		st.queue = append(st.queue, pi.Id)
		st.fresh[pi.Id] = pi.LastSuccessfulOutboundQueryAt
	}
	m.cfg.Inbound.keepOnly(st.fresh)
	rand.Shuffle(len(st.queue), func(i, j int) { st.queue[i], st.queue[j] = st.queue[j], st.queue[i] })
	slots := max(min(len(st.queue), probeSlots), 1)
	st.batch = (len(st.queue) + slots - 1) / slots
	st.step = m.cfg.ProbeInterval / time.Duration(slots)
}

// visit probes p unless it is already being handled, or answered a kad-dht
// query or sent us a request within freshWindow (and is not suspect): that
// counts as alive.
func (m *Manager) visit(st *prober, p peer.ID, now time.Time, results chan<- probeResult) {
	if st.inflight[p] || !m.members.has(p) {
		return
	}
	if _, retrying := st.retries[p]; retrying {
		return
	}
	t := st.fresh[p]
	if in := m.cfg.Inbound.lastRequest(p); in.After(t) {
		t = in
	}
	if !m.IsSuspect(p) && now.Sub(t) < freshWindow(m.cfg.ProbeInterval) {
		m.observe(p, true, 0, t)
		return
	}
	m.startProbe(st, p, results)
}

func (m *Manager) startProbe(st *prober, p peer.ID, results chan<- probeResult) {
	st.inflight[p] = true
	m.stats.probes.Add(1)
	m.wg.Go(func() {
		timeout := m.probeTimeout()
		deadline := time.Now().Add(timeout)
		ctx, cancel := context.WithDeadline(m.ctx, deadline)
		defer cancel()
		rtt, err := m.probe(ctx, p)
		late := err != nil && time.Since(deadline) >= starvedLateness(timeout)
		select {
		case results <- probeResult{p: p, rtt: rtt, err: err, late: late}:
		case <-m.ctx.Done():
		}
	})
}

func (m *Manager) handleProbe(st *prober, r probeResult) {
	if !m.members.has(r.p) { // left the table meanwhile
		delete(st.retries, r.p)
		m.forget(r.p)
		return
	}
	ok := r.err == nil
	if !ok {
		m.stats.probeFailures.Add(1)
		m.logger.Debug("probe failed", "peer", r.p, "error", r.err)
	}
	m.noteSlowness(ok, r.late)
	now := time.Now()
	suspect := m.IsSuspect(r.p)
	if !ok && !suspect {
		m.stats.suspicions.Add(1)
	}
	if m.observe(r.p, ok, r.rtt, now) {
		m.evict(r.p)
		return
	}
	if ok && suspect { // a suspicion this answer clears
		m.stats.recoveries.Add(1)
		m.enqueue(Event{Kind: PeerRecovered, Peer: r.p})
	}
	switch {
	case ok:
		delete(st.retries, r.p)
	case refused(r.err):
		st.retries[r.p] = now.Add(refusedReprobeDelay(m.cfg.ProbeInterval))
	default:
		st.retries[r.p] = now.Add(reprobeDelay(m.cfg.ProbeInterval))
	}
}

// probeTimeout is how long a probe may take now: the base timeout scaled
// by this node's slowness (liveness.go).
func (m *Manager) probeTimeout() time.Duration {
	return scaledProbeTimeout(m.cfg.ProbeInterval, int(m.slowness.Load()))
}

// noteSlowness updates the slowness with a probe's outcome: an answer
// lowers it, a failure this node noticed late (starved) raises it, any
// other failure leaves it.
func (m *Manager) noteSlowness(ok, late bool) {
	s := m.slowness.Load()
	switch {
	case ok && s > 0:
		m.slowness.Store(s - 1)
	case !ok && late && s < maxSlowness:
		m.slowness.Store(s + 1)
	}
}

// refused reports whether err is a dial that every address of the peer
// refused (TCP RST on the SYN: its host is up, nothing listens on the
// port). That is no lost packet or slow answer to ride out: the peer's
// process is gone, crashed or restarting, and its re-probe comes sooner
// (refusedReprobeDelay). A partition, a silent host or a full backlog
// gives timeouts or "unreachable", never this.
func refused(err error) bool {
	var de *swarm.DialError
	if !errors.As(err, &de) || len(de.DialErrors) == 0 {
		return false
	}
	for _, te := range de.DialErrors {
		if !errors.Is(te.Cause, syscall.ECONNREFUSED) {
			return false
		}
	}
	return true
}

// evict removes p from the RT, closes its connections, remembers it for
// rejoining and queues a refill of its bucket.
func (m *Manager) evict(p peer.ID) {
	m.departed.add(p, m.h.Peerstore().Addrs(p), time.Now())
	m.stats.evictions.Add(1) // before the removal event goes out
	m.rt.RemovePeer(p)
	if err := m.h.Network().ClosePeer(p); err != nil {
		m.logger.Debug("close evicted peer", "peer", p, "error", err)
	}
	m.logger.Info("evicted unresponsive peer", "peer", p, "failures", m.cfg.ProbeFailures, "rt_size", m.rt.Size())
	m.queueRefill(p)
}

// ping is the production probe. It first sends a DHT PING on the stream
// kad-dht already keeps open to the peer: a request and a reply, the cheapest
// check there is, which matters when every node probes every routing-table
// peer every few seconds. Only if that fails does it run a libp2p ping on a
// new stream (a dead connection fails it and the swarm redials, skipping its
// dial backoff so that a peer that failed one dial can pass the re-probe);
// so a reused stream stuck behind a slow request cannot fail a healthy peer.
func (m *Manager) ping(ctx context.Context, p peer.ID) (time.Duration, error) {
	start := time.Now()
	quick, cancelQuick := context.WithTimeout(ctx, m.probeTimeout()/2)
	err := m.d.Ping(quick, p)
	cancelQuick()
	if err == nil {
		return time.Since(start), nil
	}
	// ping.Ping pings in a loop until its context ends: cancel after one round.
	forgetDialFailures(m.h, p)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res, ok := <-ping.Ping(ctx, m.h, p)
	if !ok { // closed without a result: the context ended first
		return 0, fmt.Errorf("ping %s: %w", p, context.Cause(ctx))
	}
	return res.RTT, res.Error
}

// queueRefill records p's bucket for a refill lookup; refillLoop coalesces.
func (m *Manager) queueRefill(p peer.ID) {
	cpl := uint(kb.CommonPrefixLen(kb.ConvertPeerID(m.h.ID()), kb.ConvertPeerID(p)))
	cpl = min(cpl, kb.PeerIDPreimageMaxCpl)
	m.refillMu.Lock()
	m.refillPending[cpl] = true
	m.refillMu.Unlock()
	kick(m.refillKick)
}

// refillLoop runs one lookup per queued bucket, one at a time.
func (m *Manager) refillLoop() {
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-m.refillKick:
		}
		m.refillMu.Lock()
		cpls := m.refillPending
		m.refillPending = make(map[uint]bool)
		m.refillMu.Unlock()
		for cpl := range cpls {
			if m.ctx.Err() != nil {
				return
			}
			m.refill(cpl)
		}
	}
}

// refill looks up a random ID in bucket cpl; kad-dht adds the peers it meets.
func (m *Manager) refill(cpl uint) {
	if m.rt.Size() == 0 {
		return // nobody to ask: the re-bootstrap loop handles an empty table
	}
	id, err := m.rt.GenRandPeerID(cpl)
	if err != nil {
		m.logger.Debug("refill: random peer ID", "cpl", cpl, "error", err)
		return
	}
	ctx, cancel := context.WithTimeout(m.ctx, refillTimeout)
	defer cancel()
	start := time.Now()
	found, err := m.d.GetClosestPeers(ctx, string(id))
	m.stats.refills.Add(1)
	m.logger.Debug("refilled bucket", "cpl", cpl, "found", len(found), "took", time.Since(start), "error", err, "rt_size", m.rt.Size())
}
