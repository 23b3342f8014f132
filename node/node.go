// Package node assembles one dhtnode peer: datastore, libp2p host, kad-dht,
// routing repair, replication and the HTTP API, and owns their lifecycle.
package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	leveldb "github.com/ipfs/go-ds-leveldb"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	record "github.com/libp2p/go-libp2p-record"
	corecm "github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/syndtr/goleveldb/leveldb/filter"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/replication"
	"github.com/dhtnode/dhtnode/routing"
)

// Version is the dhtnode release, reported by /v1/status.
const Version = "0.1.0"

// Files kept in the data directory.
const (
	IdentityFile = "identity.key"
	datastoreDir = "leveldb"
	pebbleDir    = "datastore"  // earlier versions' store
	peersFile    = "peers.json" // rewritten every routing.DefaultSaveInterval
)

// LevelDB sizes. Records are small and hot ones are served from the
// replication store's own cache, so the store needs neither LevelDB's 4 MiB
// memtable nor its 8 MiB block cache; a record larger than the memtable gets
// one of its own size. The memtable is allocated whole when it is created and
// the garbage collector counts it as live heap, so each MiB of it also lets a
// MiB more garbage pile up between collections: 256 KiB instead of 1 MiB
// took 0.6 MiB off the median node's RSS and 1.1–1.4 MiB off the largest
// (docs/benchmarks-history-2026.md, tenth session).
//
// But keys are kad IDs, random, so every level-0 table overlaps all of
// level 1 and each level-0 compaction rewrites the whole of level 1 (up to
// 10 MiB) to merge in what level 0 holds: with 256 KiB tables compacted 4 at
// a time, 1 MiB of new records cost up to 10 MiB of rewriting, and a
// holder's CPU per stored record grew with its store (a Get of the absent key
// and a Put of 1.2 KiB, in process, at 30,000-40,000 records: 104-160 µs;
// at 5,000: 29 µs). A 1 MiB memtable and level 0 compacted at 8 tables
// (8 MiB at a time) cut that to 36-45 µs at 30,000-40,000 records and 14 µs
// at 5,000 (session 16, i20n; the report has the figures). Reads of an
// absent key check up to 8 level-0 tables' Bloom filters instead of 4.
//
// Each table carries a Bloom filter of its keys (storeFilterBits bits a
// key, about 1 % false positives): a holder looks a key up before it
// stores a new record (a CREATE is stored only if the key is absent), and
// without the filter every such miss reads and decodes a data block of
// each table whose key range covers the key. The filter costs 1.25 bytes
// a record, on disk and in the table cache.
//
// Seek-triggered compaction is off. LevelDB compacts a table after a
// number of reads (its size / 16 KiB, at least 100) that had to look at it
// and at another table, on the theory that a read costs a disk seek per
// table; with the Bloom filter such a read costs a filter check. With it
// on, the CREATE lookups of absent keys (new keys are random, so every
// table overlaps them) compacted each 256 KiB level-0 table into level 1
// about as soon as it was flushed, rewriting all of level 1 each time: 20 %
// of all the nodes' CPU during a 20,000-key load (BENCHMARKS.md, "Load
// rate (i20e)").
// Compactions are then driven by table counts and level sizes only.
//
// Tables are written in blocks of storeBlockSize, 16 KiB instead of
// LevelDB's 4 KiB: a compaction writes each block with a write(2) and
// reads each with a pread(2), and the system calls, not the bytes, were
// most of a compaction's CPU (4.8 of 8.3 % of the nodes' CPU in a profile
// late in a 100,000-key load). In process, at 40,000 records of 1.2 KiB
// that do not compress (BenchmarkLevelDBCreate, BenchmarkLevelDBGet):
// 22.8 -> 16.6 µs a CREATE, 39-45 -> 27 µs a random read (a smaller index
// block per table; session 19, s19a).
const (
	storeWriteBuffer = 1 << 20
	storeBlockCache  = 2 << 20
	storeBlockSize   = 16 << 10
	storeFilterBits  = 10
	// storeL0Tables is the level-0 table count that starts a compaction;
	// writes slow down at twice as many and stop at three times (LevelDB's
	// own ratios: 4, 8 and 12).
	storeL0Tables = 8
)

// Connection manager watermarks: trimming starts above high and stops at low.
const (
	connLow  = 160
	connHigh = 192
)

// Node is one running dhtnode peer.
type Node struct {
	cfg     config.Config
	logger  *slog.Logger
	started time.Time

	dstore  ds.Batching
	host    host.Host
	dht     *dht.IpfsDHT
	routing *routing.Manager
	repl    *replication.Manager
	metrics *metrics // Prometheus registry and request instruments (metrics.go)

	api *apiServer
	// batchSlots bounds the POST /v1/values requests served at once (batch.go).
	batchSlots chan struct{}
	// storageNote says what a damaged datastore lost at start ("" if nothing).
	storageNote string
	dirLock     *os.File // nil for an ephemeral node
	stopEvents  func()
	lastRun     *lastRunStamper // nil for an ephemeral node (lastrun.go)
	wg          sync.WaitGroup
	closeOnce   sync.Once
	closeErr    error
}

// Option injects a part into a node, for tests and tools.
type Option func(*options)

type options struct {
	gater corecm.ConnectionGater
}

// WithConnectionGater makes the node's host ask g before every connection
// (tests use it to cut the network into parts).
func WithConnectionGater(g corecm.ConnectionGater) Option {
	return func(o *options) { o.gater = g }
}

// New builds a node from a validated configuration: it opens the datastore,
// loads the identity, listens for libp2p connections and joins the DHT, and
// binds the HTTP API port. Serving requests and background repair begin
// with Start. On error, everything already built is closed again.
func New(cfg config.Config, logger *slog.Logger, opts ...Option) (_ *Node, err error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	n := &Node{cfg: cfg, logger: logger, started: time.Now(), batchSlots: make(chan struct{}, maxBatchRequests)}
	defer func() {
		if err != nil { // every return below gives nil; close what n holds
			err = errors.Join(err, n.Close())
		}
	}()
	if n.cfg.API.Token, err = cfg.API.BearerToken(); err != nil {
		return nil, fmt.Errorf("api.token_file: %w", err)
	}
	priv, err := n.identity()
	if err != nil {
		return nil, err
	}
	valid := replication.NewValidator(cfg.Replication.MaxValueSize)
	var store *replication.Store
	if n.dstore, store, n.storageNote, err = openStore(cfg, valid, logger); err != nil {
		return nil, err
	}
	if err := store.LimitBytes(int64(cfg.Storage.MaxBytes)); err != nil {
		return nil, fmt.Errorf("storage.max_bytes: %w", err)
	}
	gate := &startGate{next: o.gater}
	if n.host, err = newHost(cfg, priv, gate, loopback); err != nil {
		return nil, err
	}
	if path := n.dataFile(lastRunFile); path != "" {
		if n.lastRun, err = setAsideAfterDowntime(context.Background(), path, cfg.Replication.TombstoneTTL, store, n); err != nil {
			return nil, err
		}
	}
	inbound := routing.NewInbound()
	n.dht, err = dht.New(n.host,
		dht.Mode(dht.ModeServer), // ModeAuto stays a client on a LAN (notes §0.6)
		dht.ProtocolPrefix(protocolPrefix(cfg.Network)),
		dht.BucketSize(cfg.Routing.BucketSize),
		// No dht.Datastore: with values and providers off kad-dht stores
		// nothing, and the record store owns its datastore alone.
		dht.Validator(record.NamespacedValidator{replication.Namespace: valid}),
		dht.MaxRecordAge(0), // records expire by their own expires_at
		dht.DisableProviders(),
		// Records move only over the record protocol (replication/rpc.go):
		// kad-dht's PUT_VALUE would store whatever a stranger sends.
		dht.DisableValues(),
		dht.BootstrapPeers(cfg.Bootstrap...),
		// kad-dht refreshes the table every 10 minutes (its default); the
		// routing manager adds refreshes while the node is young.
		dht.OnRequestHook(inbound.Hook),
	)
	if err != nil {
		return nil, fmt.Errorf("start DHT: %w", err)
	}
	n.routing, err = routing.New(n.host, n.dht, routing.Config{
		ProbeInterval: cfg.Routing.ProbeInterval,
		ProbeFailures: cfg.Routing.ProbeFailures,
		MinPeers:      cfg.Routing.MinPeers,
		Bootstrap:     cfg.Bootstrap,
		PeersFile:     n.dataFile(peersFile),
		Inbound:       inbound,
	}, logger)
	if err != nil {
		return nil, err
	}
	n.repl, err = replication.New(n.dht, store, priv, n.routing, replication.Config{
		Factor:         cfg.Replication.Factor,
		WriteQuorum:    int(cfg.Replication.WriteQuorum),
		ReadQuorum:     int(cfg.Replication.ReadQuorum),
		RepairInterval: cfg.Replication.RepairInterval,
		TombstoneTTL:   cfg.Replication.TombstoneTTL,
		BucketSize:     cfg.Routing.BucketSize,
		Protocol:       replication.ProtocolID(protocolPrefix(cfg.Network)),
		Heard:          inbound.Seen,
	}, logger)
	if err != nil {
		return nil, err
	}
	n.repl.RememberNetwork(n.routing.SavedPeers() + 1)
	gate.open() // every protocol handler and routing-table hook is in place
	n.metrics = newMetrics(n)
	if n.api, err = listenAPI(cfg.API, n.metrics.instrument(limitClients(cfg.API, n.handler()))); err != nil {
		return nil, err
	}
	n.api.srv.RegisterOnShutdown(n.repl.StopWatches) // watch streams end, so Shutdown need not wait for them
	return n, nil
}

// protocolPrefix keeps each network on its own DHT protocol (SPEC §1).
func protocolPrefix(network string) protocol.ID { return protocol.ID("/dhtnode/" + network) }

// Start serves the HTTP API and starts routing repair and replication.
func (n *Node) Start(ctx context.Context) error {
	events, stop := n.routing.Subscribe(256)
	n.stopEvents = stop
	n.wg.Go(func() {
		for ev := range events {
			n.repl.PeerChanged(ev.Peer)
		}
	})
	n.routing.Start()
	n.repl.Start()
	if n.lastRun != nil {
		n.wg.Go(func() { n.lastRun.run(n) })
	}
	n.wg.Go(func() {
		if err := n.api.serve(); err != nil {
			n.logger.Error("HTTP API stopped", "error", err)
		}
	})
	n.logger.Info("dhtnode ready", "peer_id", n.host.ID().String(), "listen", n.ListenAddrs(), "api", n.APIURL(), "network", n.cfg.Network)
	return nil
}

// Close stops the API (requests in flight get a few seconds), leaves the
// network gracefully (records are handed to the remaining holders, bounded
// by shutdown_timeout, a budget of its own), then closes replication,
// routing, DHT, host and datastore in that order. Safe to call more than
// once, and before Start.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.close(true) })
	return n.closeErr
}

// Kill stops the node at once, as a crash would: records are not handed off
// and peers are not told. For tests and chaos tools.
func (n *Node) Kill() {
	n.closeOnce.Do(func() { n.closeErr = n.close(false) })
}

func (n *Node) close(graceful bool) error {
	var errs []error
	if n.api != nil {
		drain := min(apiDrainTimeout, n.shutdownTimeout())
		if !graceful {
			drain = 0 // a crash waits for nobody
		}
		if err := n.api.shutdown(drain); err != nil {
			n.logger.Warn("HTTP API did not stop cleanly", "error", err)
		}
	}
	if n.repl != nil {
		if graceful && n.dht != nil {
			n.handOff()
		}
		errs = append(errs, n.repl.Close())
	}
	if n.stopEvents != nil {
		n.stopEvents()
	}
	n.lastRun.close(n)
	if n.routing != nil {
		errs = append(errs, n.routing.Close())
	}
	if n.dht != nil {
		errs = append(errs, n.dht.Close())
	}
	if n.host != nil {
		errs = append(errs, n.host.Close()) // before the datastore (kad-dht Close doc)
	}
	n.wg.Wait()
	if n.dstore != nil {
		errs = append(errs, n.dstore.Close())
	}
	if n.dirLock != nil {
		errs = append(errs, n.dirLock.Close())
	}
	return errors.Join(errs...)
}

// APIURL is the base URL of the HTTP API, e.g. http://127.0.0.1:5001.
func (n *Node) APIURL() string { return "http://" + n.api.addr().String() }

// Host is the node's libp2p host.
func (n *Node) Host() host.Host { return n.host }

// RoutingTablePeers lists the peers in the node's routing table.
func (n *Node) RoutingTablePeers() []peer.ID { return n.dht.RoutingTable().ListPeers() }

// RepairSees reports whether the node's last repair pass counted p among
// its peers (replication.Manager.RepairSees): tests wait on it for repair
// to have followed a join or a departure.
func (n *Node) RepairSees(p peer.ID) bool { return n.repl.RepairSees(p) }

// PeerID is the node's libp2p peer ID.
func (n *Node) PeerID() peer.ID { return n.host.ID() }

// ListenAddrs are the libp2p addresses the node listens on, with /p2p/<id>.
func (n *Node) ListenAddrs() []string {
	p2p := ma.StringCast("/p2p/" + n.host.ID().String())
	var out []string
	for _, a := range n.host.Network().ListenAddresses() {
		out = append(out, a.Encapsulate(p2p).String())
	}
	return out
}

func (n *Node) dataFile(name string) string {
	if n.cfg.Ephemeral {
		return ""
	}
	return filepath.Join(n.cfg.DataDir, name)
}

// identity loads the node's key from identity_file when set, else from the
// data dir, creating it on first start; an ephemeral node without an
// identity_file gets a fresh key.
func (n *Node) identity() (crypto.PrivKey, error) {
	if n.cfg.IdentityFile != "" {
		return LoadIdentity(n.cfg.IdentityFile)
	}
	if n.cfg.Ephemeral {
		priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
		return priv, err
	}
	if err := os.MkdirAll(n.cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir: %w", err)
	}
	lock, err := lockDataDir(n.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	n.dirLock = lock
	checkIdentity(n.cfg.DataDir, n.dataFile(IdentityFile), n.logger)
	return LoadOrCreateIdentity(n.dataFile(IdentityFile))
}

// openStore opens the node's datastore and the record store in it, and
// returns a note on damage found at start ("" if none).
func openStore(cfg config.Config, valid replication.Validator, logger *slog.Logger) (ds.Batching, *replication.Store, string, error) {
	open := func(d ds.Batching) (*replication.Store, error) {
		return replication.NewStore(context.Background(), d, valid, logger)
	}
	if cfg.Ephemeral || cfg.Storage.Engine == config.EngineMemory {
		d := dssync.MutexWrap(ds.NewMapDatastore())
		store, err := open(d)
		return d, store, "", err
	}
	if old := filepath.Join(cfg.DataDir, pebbleDir); dirExists(old) {
		return nil, nil, "", fmt.Errorf("%s holds a Pebble store from an earlier dhtnode, which this version cannot read; "+
			"move it away to start (the other holders refill this node's records)", old)
	}
	path := filepath.Join(cfg.DataDir, datastoreDir)
	d, store, note, err := openLevelDB(path, levelDBOptions(cfg.Storage.Sync), logger, open)
	if err != nil {
		return nil, nil, "", err
	}
	return d, store, note, nil
}

// levelDBOptions are the options of the node's LevelDB store (the sizes
// above); sync is storage.sync.
func levelDBOptions(sync bool) *leveldb.Options {
	return &leveldb.Options{
		// Without storage.sync a write is in the journal (written, not
		// fsynced) before it is acknowledged: it survives a process crash.
		NoSync:             !sync,
		WriteBuffer:        storeWriteBuffer,
		BlockCacheCapacity: storeBlockCache,
		BlockSize:          storeBlockSize,
		Filter:             filter.NewBloomFilter(storeFilterBits),
		// Compactions by table counts and level sizes only (see above).
		DisableSeeksCompaction: true,
		CompactionL0Trigger:    storeL0Tables,
		WriteL0SlowdownTrigger: 2 * storeL0Tables,
		WriteL0PauseTrigger:    3 * storeL0Tables,
	}
}

func dirExists(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}
