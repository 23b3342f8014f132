// Package routing keeps kad-dht's routing table (RT) healthy (SPEC §2
// "Routing-table repair"). kad-dht keeps dead peers in its table for a long
// time and re-dials bootstrap peers only when the table is completely empty;
// a Manager sits on top of the table and adds:
//
//   - Liveness probing (prober.go): every RT peer is probed about once per
//     ProbeInterval, in probeSlots batches spread over the interval, at most
//     maxConcurrentProbes at a time, each within probeTimeout. A peer that
//     answered a kad-dht query, sent this node a DHT or record request, or
//     answered a record request (Inbound) within half an interval counts as
//     alive without a probe, so two peers that probe each other mostly share
//     one probe. An RT peer whose last connection closes is
//     probed at once, so a peer whose process died (its kernel resets TCP
//     connections) is usually detected within one reprobeDelay; if every
//     address refuses the dial (nothing listens: the process is gone), the
//     re-probes come after refusedReprobeDelay, a tenth of that.
//     From the close until it answers or connects again the peer is
//     Disconnected: IsDoubted (not IsSuspect: reads and writes still use
//     it) reports it, and a failed probe, and for departedDoubt a departure
//     from the RT, so that replication counts the records it holds with the
//     peer as under-replicated from the first sign of a death.
//     A probe is first a DHT PING on the stream kad-dht already keeps open to
//     the peer (one request and one reply: with every node probing every
//     peer every few seconds, probe cost is most of an idle network's CPU).
//     That stream serialises all of this node's RPCs to the peer, so a PING
//     queued behind a slow GET/PUT could time out on a healthy, busy peer:
//     when it fails, the probe falls back to the libp2p ping protocol on a
//     stream of its own (a new stream on a dead connection fails, so the
//     swarm redials), and only that verdict counts.
//   - Suspicion and eviction (liveness.go, pure and table-tested): a failed
//     probe marks the peer Suspect (IsSuspect, so replication can skip it)
//     and schedules a quick re-probe instead of waiting a whole interval.
//     ProbeFailures failures in a row evict the peer from the RT and close
//     its connections; any answer within the timeout, however slow, clears
//     the suspicion, so a slow but alive peer is never evicted. The timeout
//     grows with this node's own slowness (local health, liveness.go): each
//     timed-out probe raises it, each answer lowers it, so a node starved
//     of CPU, which reads every answer late, does not evict live peers.
//   - Refill: each eviction queues a lookup of a random ID in the evicted
//     peer's bucket; queued buckets are coalesced and refilled one at a time.
//   - Events (events.go): PeerAdded/PeerRemoved, chained onto the RT's
//     callbacks with a non-blocking send only, and PeerRecovered (a suspect
//     answered a probe again), fanned out to subscribers without blocking;
//     drops are counted.
//   - Re-bootstrap (bootstrap.go): while the RT holds fewer than MinPeers
//     peers, connect to the configured bootstrap peers and to the peers saved
//     in PeersFile, then refresh, with exponential backoff.
//   - Rejoin after partitions (rejoin.go): peers that left the RT are
//     remembered (bounded) with their addresses and re-dialled with backoff
//     for rememberFor, so both sides of a healed split find each other again.
//     A remembered peer that is still connected is disconnected before the
//     redial, since kad-dht adds peers when identify runs on a new connection.
//   - Saved peers (peersfile.go): the RT peers and their addresses are
//     written atomically to PeersFile, so a restarted node can rejoin even if
//     every bootstrap peer is down.
//
// Why no indirect probes (memberlist's ping-req): in memberlist a failure
// verdict is gossiped and removes a member from every node's view, so one
// node's bad link must not decide it. Here each node evicts a peer only from
// its own RT, and that is cheap to undo: the evicted peer is re-dialled for
// rememberFor, and kad-dht re-adds any peer that connects and speaks the DHT
// protocol. A false eviction therefore costs one node one table entry for a
// few probe intervals, which does not justify an extra wire protocol. What
// memberlist's suspicion buys (no eviction on a single miss, a quick
// confirmation) is kept locally through Suspect and the quick re-probe.
package routing
