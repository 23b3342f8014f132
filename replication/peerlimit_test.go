package replication

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
)

// A peer that floods a node's record protocol gets "busy" answers once past
// its burst, which its transport reports as errBusy without counting the
// holder as misbehaving; another peer asking at the same time is served.
func TestRecordProtocolAnswersAFloodingPeerBusy(t *testing.T) {
	newHost := func() host.Host {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		return h
	}
	server, flooder, polite := newHost(), newHost(), newHost()
	store := newMemStore(t, NewValidator(1024))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const burst = 50
	counts := new(rpcCounts)
	server.SetStreamHandler(testProto, (&rpcServer{store: store, limit: 1024 + messageOverhead, ctx: ctx,
		counts: counts, limits: newPeerLimits(20, burst)}).handle)
	client := func(h host.Host) *transport {
		h.Peerstore().AddAddrs(server.ID(), server.Addrs(), time.Hour)
		c := newRPCClient(h, testProto, 1024+messageOverhead, nil)
		t.Cleanup(c.close)
		return &transport{self: h.ID(), store: store, client: c}
	}
	flood, other := client(flooder), client(polite)

	// 8 streams at once, 400 requests: far past a burst of 50 at 20/s.
	const requests, workers = 400, 8
	var served, busy atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for i := w; i < requests; i += workers {
				_, err := flood.fetch(ctx, server.ID(), fmt.Sprintf("k%d", i))
				switch {
				case err == nil:
					served.Add(1)
				case errors.Is(err, errBusy):
					busy.Add(1)
				default:
					t.Errorf("request %d: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	// Served: the burst plus what the rate refilled while the flood ran.
	refilled := int64(20*time.Since(start).Seconds()) + 1
	if served.Load() < burst || served.Load() > burst+refilled || busy.Load() < requests-burst-refilled {
		t.Fatalf("flood of %d requests: %d served, %d busy; want about %d served", requests, served.Load(), busy.Load(), burst)
	}
	if flood.badAnswers() != 0 {
		t.Fatalf("busy answers counted as %d bad answers", flood.badAnswers())
	}
	if got := counts[opGet][statusBusy].Load(); got != uint64(busy.Load()) {
		t.Fatalf("server counted %d busy answers, the flooder got %d", got, busy.Load())
	}
	if _, err := other.fetch(ctx, server.ID(), "k0"); err != nil {
		t.Fatalf("another peer during the flood: %v", err)
	}
}

func TestNoPeerLimitAllowsEverything(t *testing.T) {
	if !(*peerLimits)(nil).allow("any") || newPeerLimits(-1, 0) != nil {
		t.Fatal("no limit must allow everything")
	}
}
