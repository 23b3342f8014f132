package routing

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	dht "github.com/libp2p/go-libp2p-kad-dht"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	madns "github.com/multiformats/go-multiaddr-dns"

	"github.com/dhtnode/dhtnode/config"
)

// DefaultSaveInterval is how often PeersFile is rewritten when
// Config.SaveInterval is not set; it has no key in the config file.
const DefaultSaveInterval = 30 * time.Second

// Config tunes a Manager. Zero or negative values take the defaults: those
// of the config file's routing keys from package config (config.Default),
// the others from this package.
type Config struct {
	// ProbeInterval: every RT peer is probed about once per interval, the
	// probes spread over the interval.
	ProbeInterval time.Duration
	// ProbeFailures: consecutive failed probes before a peer is evicted.
	ProbeFailures int
	// MinPeers: while the RT holds fewer peers, the node re-bootstraps.
	MinPeers int
	// Bootstrap: the configured bootstrap peers. Their /dns, /dns4 and
	// /dns6 names are looked up again on every dial (a /dnsaddr by the swarm).
	Bootstrap []peer.AddrInfo
	// Resolver looks those names up; nil asks the system resolver.
	Resolver Resolver
	// PeersFile is where RT peers (with addresses) are saved and loaded
	// from; "" disables saving and loading.
	PeersFile string
	// SaveInterval: how often PeersFile is rewritten; it is also written on Close.
	SaveInterval time.Duration
	// Inbound, when set, tells the prober which peers recently sent requests.
	Inbound *Inbound
	// earlyRefreshes: delays after Start of extra full table refreshes
	// (jittered); nil takes defaultEarlyRefreshes, an empty slice runs none.
	// Only tests set it.
	earlyRefreshes []time.Duration
}

func (c Config) withDefaults() Config {
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = config.DefaultProbeInterval
	}
	if c.ProbeFailures <= 0 {
		c.ProbeFailures = config.DefaultProbeFailures
	}
	if c.MinPeers <= 0 {
		c.MinPeers = config.DefaultMinPeers
	}
	if c.SaveInterval <= 0 {
		c.SaveInterval = DefaultSaveInterval
	}
	if c.Resolver == nil {
		c.Resolver = madns.DefaultResolver
	}
	if c.earlyRefreshes == nil {
		c.earlyRefreshes = defaultEarlyRefreshes
	}
	return c
}

// Stats are cumulative counters since New.
type Stats struct {
	Probes        uint64 // probes sent
	ProbeFailures uint64 // probes that failed or timed out
	Evictions     uint64 // peers evicted by the prober
	Refills       uint64 // bucket refill lookups run
	Refreshes     uint64 // early full table refreshes run
	Rebootstraps  uint64 // re-bootstrap attempts
	DroppedEvents uint64 // events dropped because a buffer was full
	// Suspicions counts failed probes of peers that were not suspect;
	// Recoveries the suspects that answered a probe again (PeerRecovered):
	// a flapping peer adds one to each every time.
	Suspicions, Recoveries uint64
	// Slowness is the local health score now, 0 to 3 (liveness.go): how
	// many times the base timeout this node's probes add to it.
	Slowness int
}

type counters struct {
	probes, probeFailures, evictions, refills, refreshes, rebootstraps, dropped atomic.Uint64
	suspicions, recoveries                                                      atomic.Uint64
}

// probeFunc checks that p is alive and returns the round-trip time.
type probeFunc func(ctx context.Context, p peer.ID) (time.Duration, error)

// Manager keeps kad-dht's routing table healthy; see the package doc.
type Manager struct {
	h      host.Host
	d      *dht.IpfsDHT
	rt     *kb.RoutingTable
	cfg    Config
	logger *slog.Logger
	probe  probeFunc // libp2p ping; tests replace it before Start

	stats counters
	// slowness is the local health score (liveness.go); only probeLoop
	// writes it.
	slowness atomic.Int32

	healthMu sync.RWMutex // guards health; held only for map operations
	health   *liveness
	// anySuspect mirrors health.Suspects() > 0, so that IsSuspect, asked for
	// every candidate of every read and write, takes no lock while no peer
	// is suspect (nearly always).
	anySuspect atomic.Bool
	// anyDoubt mirrors health.Doubts() > 0, for IsDoubted.
	anyDoubt atomic.Bool

	rtEvents chan Event // written by the RT callbacks, never closed
	closed   atomic.Bool

	subsMu sync.Mutex
	subs   map[int]chan Event
	nextID int

	refillMu      sync.Mutex
	refillPending map[uint]bool
	refillKick    chan struct{}
	bootKick      chan struct{}

	configured map[peer.ID][]ma.Multiaddr // cfg.Bootstrap's addresses by peer; read-only

	departed *departedSet // guarded by its own lock
	members  memberSet    // the RT's peers, guarded by its own lock

	savedMu sync.Mutex
	saved   []peer.AddrInfo // last loaded or saved peers

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	startOnce sync.Once
	closeOnce sync.Once
	closeErr  error
}

// rtEventBuffer bounds the events queued between the RT callbacks and the
// fan-out loop.
const rtEventBuffer = 1024

// New builds a Manager for d's routing table and chains its event callbacks
// onto the table. Call it right after dht.New, before the host connects to
// anyone: the callbacks are plain fields that kad-dht reads under its own lock.
// New starts nothing; saved peers are loaded from cfg.PeersFile (a corrupt
// file is logged and ignored).
func New(h host.Host, d *dht.IpfsDHT, cfg Config, logger *slog.Logger) (*Manager, error) {
	if h == nil || d == nil {
		return nil, errors.New("routing: host and DHT are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		h:             h,
		d:             d,
		rt:            d.RoutingTable(),
		cfg:           cfg,
		logger:        logger.With("component", "routing"),
		health:        newLiveness(cfg.ProbeFailures),
		rtEvents:      make(chan Event, rtEventBuffer),
		subs:          make(map[int]chan Event),
		refillPending: make(map[uint]bool),
		refillKick:    make(chan struct{}, 1),
		bootKick:      make(chan struct{}, 1),
		configured:    make(map[peer.ID][]ma.Multiaddr, len(cfg.Bootstrap)),
		departed:      newDepartedSet(maxDeparted, cfg.ProbeInterval),
		ctx:           ctx,
		cancel:        cancel,
	}
	m.probe = m.ping
	for _, ai := range cfg.Bootstrap {
		m.configured[ai.ID] = append(m.configured[ai.ID], ai.Addrs...)
	}
	if cfg.PeersFile != "" {
		saved, err := loadPeers(cfg.PeersFile)
		if err != nil {
			m.logger.Warn("ignoring saved peers file", "path", cfg.PeersFile, "error", err)
		}
		m.saved = saved
	}
	m.chainCallbacks(m.rt.ListPeers)
	return m, nil
}

// Start starts the prober, event, refill, save, re-bootstrap, rejoin and
// early-refresh loops. Calling it again, or after Close, does nothing.
func (m *Manager) Start() {
	m.startOnce.Do(func() {
		if m.closed.Load() {
			return
		}
		m.wg.Go(m.eventLoop)
		m.wg.Go(m.probeLoop)
		m.wg.Go(m.refillLoop)
		m.wg.Go(m.bootstrapLoop)
		m.wg.Go(m.rejoinLoop)
		m.wg.Go(m.earlyRefreshLoop)
		if m.cfg.PeersFile != "" {
			m.wg.Go(m.saveLoop)
		}
	})
}

// Close stops every loop and waits for them, saves the peers once more and
// closes all subscriber channels. The RT callbacks stay chained but only
// drop events from then on. Safe to call more than once.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		m.closed.Store(true)
		m.startOnce.Do(func() {}) // a later Start does nothing
		m.cancel()
		m.wg.Wait()
		if m.cfg.PeersFile != "" {
			m.closeErr = m.savePeers()
		}
		m.closeSubscribers()
	})
	return m.closeErr
}

// Stats returns the counters.
func (m *Manager) Stats() Stats {
	return Stats{
		Probes:        m.stats.probes.Load(),
		ProbeFailures: m.stats.probeFailures.Load(),
		Evictions:     m.stats.evictions.Load(),
		Refills:       m.stats.refills.Load(),
		Refreshes:     m.stats.refreshes.Load(),
		Rebootstraps:  m.stats.rebootstraps.Load(),
		DroppedEvents: m.stats.dropped.Load(),
		Suspicions:    m.stats.suspicions.Load(),
		Recoveries:    m.stats.recoveries.Load(),
		Slowness:      int(m.slowness.Load()),
	}
}

// PeerHealth returns what the prober knows about p; false if p was never
// probed or heard from since it entered the table.
func (m *Manager) PeerHealth(p peer.ID) (PeerHealth, bool) {
	m.healthMu.RLock()
	defer m.healthMu.RUnlock()
	return m.health.Health(p)
}

// SavedPeers returns how many peers the saved peers file listed (or the
// last save): the network this node knew before it (re)started.
func (m *Manager) SavedPeers() int {
	m.savedMu.Lock()
	defer m.savedMu.Unlock()
	return len(m.saved)
}

// IsSuspect reports whether p failed its latest probe(s) and has not answered
// since. Replication skips suspect peers.
func (m *Manager) IsSuspect(p peer.ID) bool {
	if !m.anySuspect.Load() {
		return false
	}
	h, ok := m.PeerHealth(p)
	return ok && h.Suspect
}

// IsDoubted reports whether this node has reason to think p may be dead:
// p is suspect (IsSuspect), or its last connection closed and it has
// neither answered a probe nor connected again since (a probe is started
// at once: on a LAN a crashed peer's kernel resets its connections, so
// this is the earliest sign of a death, well before the eviction). A peer
// that leaves the routing table is no longer doubted. Replication counts
// the records it holds with a doubted peer as under-replicated; reads and
// writes do not skip a peer that is only disconnected. A peer that left the
// table stays doubted for departedDoubt (unless it comes back), so that
// the doubt lasts until replication has taken in the departure (its
// routing event reaches it through two goroutines).
func (m *Manager) IsDoubted(p peer.ID) bool {
	if m.anyDoubt.Load() {
		if h, ok := m.PeerHealth(p); ok && (h.Suspect || h.Disconnected) {
			return true
		}
	}
	return m.departed.leftWithin(p, departedDoubt, time.Now())
}

// departedDoubt is how long a peer that left the table stays doubted.
const departedDoubt = 10 * time.Second

// observe feeds one outcome to the failure detector. A peer to evict is
// remembered as departed before the detector forgets it, so that it stays
// doubted (IsDoubted) throughout.
func (m *Manager) observe(p peer.ID, ok bool, rtt time.Duration, now time.Time) bool {
	return m.withHealth(func(l *liveness) bool {
		if !ok && l.wouldEvict(p) {
			m.departed.add(p, m.h.Peerstore().Addrs(p), now)
		}
		return l.Observe(p, ok, rtt, now)
	})
}

func (m *Manager) forget(p peer.ID) {
	m.withHealth(func(l *liveness) bool { l.Forget(p); return false })
}

// connectedness notes that p's last connection closed (up false) or that
// it connected again (up true).
func (m *Manager) connectedness(p peer.ID, up bool) {
	if up && !m.anyDoubt.Load() {
		return // nobody to clear: most connection events, taken without the lock
	}
	m.withHealth(func(l *liveness) bool {
		if up {
			l.Connected(p)
		} else {
			l.Disconnected(p)
		}
		return false
	})
}

// withHealth runs f on the failure detector under its lock and refreshes
// anySuspect and anyDoubt.
func (m *Manager) withHealth(f func(*liveness) bool) bool {
	m.healthMu.Lock()
	defer m.healthMu.Unlock()
	out := f(m.health)
	m.anySuspect.Store(m.health.Suspects() > 0)
	m.anyDoubt.Store(m.health.Doubts() > 0)
	return out
}

// kick sends a coalescing wake-up on a channel with a buffer of one.
func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// sleep waits for d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
