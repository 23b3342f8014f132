package replication

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"golang.org/x/time/rate"
)

// Defaults for the Config fields that have no key in the config file.
const (
	// DefaultTombstoneTTL is how long a delete's tombstone is kept: a holder
	// that was down for less than this still learns of the delete. Nodes
	// take it from replication.tombstone_ttl.
	DefaultTombstoneTTL = 24 * time.Hour
	// DefaultRPCTimeout bounds one request to one holder.
	DefaultRPCTimeout = 5 * time.Second
	// repairWorkers bounds the range syncs (one per peer), and the set-aside
	// keys settled (stale.go), run at once.
	repairWorkers = 8
	// kickDelay gathers a burst of routing events into one repair pass: the
	// pass starts once no event came for this long (sweepState.gather), or
	// kickGatherMax after the first.
	kickDelay     = 500 * time.Millisecond
	kickGatherMax = 2 * time.Second
	// settlingKickDelay: while a node settles (settleSweeps), a pass
	// follows a burst after this long, without waiting it out. Its passes
	// ignore the peers they see for the first time, and a peer that
	// stopped and came back inside one long gather, seen for the first
	// time in it, would be ignored too: neither it nor the old holders
	// would sync its ranges until a sweep.
	settlingKickDelay = 250 * time.Millisecond
	// repairPushRate and repairPushBurst rate-limit repair pushes (audits,
	// hand-offs, read repair, leave), so that a mass failure does not
	// swamp the survivors.
	repairPushRate  = 1000 // per second
	repairPushBurst = 100
)

// Config sets the replication policy of a Manager.
type Config struct {
	Factor         int           // k: holders per key
	WriteQuorum    int           // W; 0 = a majority of the holders found
	ReadQuorum     int           // R; 0 = a majority of the holders found
	RepairInterval time.Duration // period of the anti-entropy sweep
	BucketSize     int           // kad-dht bucket size
	TombstoneTTL   time.Duration // 0 = DefaultTombstoneTTL
	RPCTimeout     time.Duration // 0 = DefaultRPCTimeout
	// Protocol is the record protocol's ID (ProtocolID of the network's
	// kad-dht prefix); only peers on the same one exchange records.
	Protocol protocol.ID
	// PeerRequestRate and PeerRequestBurst bound the record requests this
	// node serves each remote peer (peerlimit.go); over them it answers
	// "busy". 0 = DefaultPeerRequestRate/Burst; a negative rate: no limit.
	PeerRequestRate  float64
	PeerRequestBurst int
	// Heard, if set, is told of every peer that sent this node a record
	// request or answered one: either proves the peer is alive.
	Heard func(peer.ID)
}

// Manager keeps k up-to-date copies of every record on the k live peers
// closest to its key: quorum reads and writes, read repair, event-driven and
// periodic re-replication, hand-off and graceful leave.
type Manager struct {
	cfg    Config
	self   peer.ID
	priv   crypto.PrivKey
	store  *Store
	valid  Validator
	router holderRouter
	tr     holderTransport
	ranges rangeSyncer
	logger *slog.Logger
	// unserve stops answering record requests (nil: nothing to stop).
	unserve func()

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	lifeMu sync.RWMutex // guards closed against wg.Add after Close
	closed bool
	kick   chan struct{}
	// started is when Start ran: repair passes let the node settle after
	// it (settleSweeps).
	started time.Time

	answerTime answerTime    // of holders' answers to reads and writes, for hedging
	reads      atomic.Uint64 // quorum reads run by this node
	hedges     atomic.Uint64 // holders asked by those reads after a hedge delay
	repairs    atomic.Uint64 // copies pushed to holders that lacked them
	audits     atomic.Uint64 // keys whose holders were all asked for their copy
	lookups    atomic.Uint64 // lookups of a range's holders (targets.go)
	// lookupBytes are the bytes of those lookups' FIND_NODE requests and
	// answers; Stats adds them to the repair bytes (not repairBytes, which
	// tells anti-entropy whether a bulk repair runs).
	lookupBytes atomic.Uint64
	syncRetried atomic.Uint64 // range syncs tried again (retrySync)
	partials    atomic.Uint64 // writes that failed after some holders stored them
	network     netMemory     // the largest network seen lately (quorum.go)
	readFixes   atomic.Uint64 // the repairs pushed by read repair
	served      *rpcCounts    // record requests this node served
	pushLimit   *rate.Limiter
	sweeps      sweepState
	watch       *watchState // watches: subscriptions to holders, and served as one
	// digests are the range digests of the store (digest.go), nil if they
	// could not be built; sync sessions (sync.go) use them.
	digests     *digestTable
	repairBytes atomic.Uint64 // sent and received by audits, hand-offs and sync sessions
	// repairSent is the part of repairBytes this node accounts for in the
	// network's repair traffic (countRepair).
	repairSent atomic.Uint64
	syncLimits *peerLimits // sync requests served per remote peer
	// syncClaims are the prefixes of the sync sessions this node serves
	// (syncclaim.go).
	syncClaims syncClaims
	// partners is what anti-entropy knows of its partners (antientropy.go).
	partners partnerStates
	// syncFar reports whether this node is too far from a key to store a
	// record of it pushed by a sync session; nil: never.
	syncFar func(key string) bool
	// secondDelay is secondDelay (repair.go); tests of passes run one
	// after another set it to 0.
	secondDelay time.Duration
	// syncRetries are the waits before a failed range sync is tried
	// again (syncRetryDelays, repair.go); tests shorten them.
	syncRetries []time.Duration
	// doubted reports whether this node has reason to think a peer may be
	// dead (Doubter); nil: none. Stats.UnderReplicated counts the regions
	// held with such a peer.
	doubted func(peer.ID) bool
}

// New returns a manager for the records in store, routing through d. live may
// be nil. It starts nothing until Start.
func New(d *dht.IpfsDHT, store *Store, priv crypto.PrivKey, live Liveness, cfg Config, logger *slog.Logger) (*Manager, error) {
	if cfg.Protocol == "" {
		return nil, errors.New("replication: no record protocol ID")
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	self := d.PeerID()
	limit := store.valid.MaxValueSize + messageOverhead
	client := newRPCClient(d.Host(), cfg.Protocol, limit, cfg.Heard)
	box := newPenaltyBox(live)
	rt := &router{self: self, selfKid: kb.ConvertPeerID(self), d: d, ms: d.MessageSender(), live: box, bucketSize: cfg.BucketSize}
	tr := &transport{self: self, store: store, client: client, box: box, syncProto: syncProtocolFor(cfg.Protocol)}
	m := newManager(cfg, self, priv, store, rt, tr, logger)
	m.doubted = box.isDoubted
	m.syncFar = func(key string) bool {
		return rt.nearerPeers(DHTKey(key), m.cfg.Factor+holderSlack(m.cfg.Factor)) != nil
	}
	server := &rpcServer{store: store, limit: limit, heard: cfg.Heard, ctx: m.ctx, counts: m.served,
		limits: newPeerLimits(m.cfg.PeerRequestRate, m.cfg.PeerRequestBurst),
		nearer: func(key string) []peer.AddrInfo { return rt.nearerPeers(DHTKey(key), m.cfg.Factor) },
		farFrom: func(key string) []peer.AddrInfo {
			return rt.nearerPeers(DHTKey(key), m.cfg.Factor+holderSlack(m.cfg.Factor))
		}}
	h := d.Host()
	h.SetStreamHandler(cfg.Protocol, server.handle)
	m.watch = newWatchState(m, h, watchProtocolFor(cfg.Protocol), limit) // watchstate.go
	h.SetStreamHandler(m.watch.proto, m.watch.handleStream)
	h.SetStreamHandler(tr.syncProto, m.handleSync) // sync.go
	m.unserve = func() {
		h.RemoveStreamHandler(cfg.Protocol)
		h.RemoveStreamHandler(m.watch.proto)
		h.RemoveStreamHandler(tr.syncProto)
	}
	return m, nil
}

// check refuses a configuration New cannot run with.
func (cfg Config) check() error {
	if cfg.Factor < 1 {
		return fmt.Errorf("replication: factor %d < 1", cfg.Factor)
	}
	return nil
}

// newManager returns a manager that reaches the network through router and
// tr; cfg has passed check. Its watches are served once New gives it a host.
func newManager(cfg Config, self peer.ID, priv crypto.PrivKey, store *Store, router holderRouter, tr holderTransport, logger *slog.Logger) *Manager {
	if cfg.TombstoneTTL == 0 {
		cfg.TombstoneTTL = DefaultTombstoneTTL
	}
	if cfg.RPCTimeout == 0 {
		cfg.RPCTimeout = DefaultRPCTimeout
	}
	if cfg.PeerRequestRate == 0 {
		cfg.PeerRequestRate, cfg.PeerRequestBurst = DefaultPeerRequestRate, DefaultPeerRequestBurst
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		cfg:        cfg,
		self:       self,
		priv:       priv,
		store:      store,
		valid:      store.valid,
		router:     router,
		tr:         tr,
		logger:     logger.With("component", "replication"),
		ctx:        ctx,
		cancel:     cancel,
		kick:       make(chan struct{}, 1),
		pushLimit:  rate.NewLimiter(repairPushRate, repairPushBurst),
		served:     new(rpcCounts),
		sweeps:     sweepState{incomplete: make(map[prefix]int), chunk: walkChunk},
		syncLimits: newPeerLimits(syncPeerRate, syncPeerBurst),
	}
	m.secondDelay = secondDelay
	m.syncRetries = syncRetryDelays
	digests, err := newDigestTable(ctx, store) // before anything can write to the store
	if err != nil {
		m.logger.Error("building the range digests; range sync is off", "error", err)
	} else {
		m.digests = digests
	}
	m.ranges = m
	return m
}

// Start runs the repair loop: a sweep every RepairInterval and a pass soon
// after every PeerChanged.
func (m *Manager) Start() {
	m.started = time.Now()
	m.goTracked(m.run)
	m.goTracked(m.settleStale) // stale.go
	if m.watch != nil {
		m.goTracked(m.watch.run)
	}
}

// Close stops the repair loop and every background push, and waits for them.
// Safe to call more than once.
func (m *Manager) Close() error {
	m.lifeMu.Lock()
	m.closed = true
	m.lifeMu.Unlock()
	if m.unserve != nil {
		m.unserve()
	}
	m.cancel()
	if m.watch != nil {
		m.watch.close()
	}
	m.wg.Wait()
	m.tr.close()
	return nil
}

// PeerChanged tells the manager that a peer joined or left the routing
// table, or answered again after it was suspected dead (a pass that ran
// meanwhile left it out, and writes skipped it): the ranges whose holders
// changed are repaired soon, the peer's as a returning holder's. It never
// blocks.
func (m *Manager) PeerChanged(p peer.ID) {
	m.router.invalidate()
	m.expectedHolders() // remember the network's size (quorum.go)
	m.sweeps.noteChanged(p)
	if m.watch != nil {
		m.watch.poke() // watched keys may have new holders
	}
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// goTracked runs f in a goroutine that Close waits for. It reports false,
// running nothing, once Close has begun.
func (m *Manager) goTracked(f func()) bool {
	m.lifeMu.RLock()
	defer m.lifeMu.RUnlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
	return true
}

var errClosed = errors.New("replication manager closed")

func (m *Manager) rpcContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(m.ctx, m.cfg.RPCTimeout)
}
