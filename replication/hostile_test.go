package replication_test

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/internal/hostile"
	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

// A hostile peer inside a real network, holder of every key (6 peers,
// k = 8), answers every record request badly. Honest clients still write
// and read the right values at the right versions through every node;
// nothing panics; goroutines and memory stay bounded; the bad answers are
// counted in /v1/status.
func TestHostilePeerChangesNothingHonestClientsSee(t *testing.T) {
	if testing.Short() {
		t.Skip("real network")
	}
	c := testnet.New(t, 5, nil)
	hp, err := hostile.Start(hostile.Config{
		Network:      c.Config(0).Network,
		MaxValueSize: c.Config(0).Replication.MaxValueSize,
		Bootstrap:    []peer.AddrInfo{c.AddrInfo(0), c.AddrInfo(1), c.AddrInfo(2), c.AddrInfo(3), c.AddrInfo(4)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer hp.Close()
	c.WaitFor(30*time.Second, "the hostile peer in every routing table", func() bool {
		for i := range c.Len() {
			if !slices.Contains(c.Node(i).RoutingTablePeers(), hp.ID()) {
				return false
			}
		}
		return true
	})
	goroutines := runtime.NumGoroutine()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	const keys, rounds = 6, 36
	versions := map[string]uint64{}
	for round := range rounds {
		key, i := fmt.Sprintf("key-%d", round%keys), round%c.Len()
		value := fmt.Sprintf("value %d", round)
		res, err := c.Client(i).Put(ctxT(t), key, []byte(value), node.PutOptions{})
		if err != nil {
			t.Fatalf("round %d: put %q via node %d: %v", round, key, i, err)
		}
		if versions[key]++; res.Version != versions[key] {
			t.Fatalf("round %d: put %q got version %d, want %d", round, key, res.Version, versions[key])
		}
		if round%3 == 0 { // a compare-and-set may fail only for want of the hostile peer's answer
			from := versions[key]
			value = fmt.Sprintf("value %d, swapped", round)
			_, err := c.Client((i+1)%c.Len()).Put(ctxT(t), key, []byte(value), node.PutOptions{IfVersion: &from})
			switch {
			case err == nil:
				versions[key]++
			case errors.Is(err, node.ErrInsufficientReplicas):
				// Not acknowledged, but it may have been applied (it says
				// so): either record is right, if every node reads the same.
				got, version, err := c.Client(i).Get(ctxT(t), key, 0)
				switch {
				case err == nil && string(got) == value && version == from+1:
					versions[key]++
				case err == nil && version == from:
					value = fmt.Sprintf("value %d", round)
				default:
					t.Fatalf("round %d: after a failed compare-and-set from v%d: %q v%d, %v", round, from, got, version, err)
				}
			default:
				t.Fatalf("round %d: compare-and-set of %q from v%d: %v", round, key, from, err)
			}
		}
		for j := range c.Len() {
			got, version, err := c.Client(j).Get(ctxT(t), key, 0)
			if err != nil || string(got) != value || version != versions[key] {
				t.Fatalf("round %d: node %d reads %q v%d (%v), want %q v%d", round, j, got, version, err, value, versions[key])
			}
		}
	}
	var bad uint64
	for i := range c.Len() {
		st, err := c.Client(i).Status(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		bad += st.Replication.BadAnswersTotal
	}
	var unused []string
	for b := range hostile.Behaviours {
		if hp.Answered(b) == 0 {
			unused = append(unused, b.String())
		}
	}
	// Each node leaves the peer out after a few bad answers: by then it
	// has answered with every behaviour.
	t.Logf("bad answers counted in /v1/status: %d", bad)
	if bad == 0 || len(unused) > 0 {
		t.Fatalf("bad answers counted: %d; behaviours never used: %v", bad, unused)
	}
	c.WaitFor(15*time.Second, "goroutines back near where they were", func() bool {
		return runtime.NumGoroutine() < goroutines+100
	})
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 64<<20 {
		t.Fatalf("heap grew by %d MiB", grown>>20)
	}
}
