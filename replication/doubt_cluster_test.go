package replication_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/internal/testnet"
)

// underReplicated returns node i's records.under_replicated.
func underReplicated(c *testnet.Cluster, i int) (int, error) {
	st, err := statusOf(c, i)
	return st.Records.UnderReplicated, err
}

// allUnderReplicated returns a wait's check that every node of nodes
// counts under-replicated records that ok accepts.
func allUnderReplicated(c *testnet.Cluster, nodes []int, ok func(under int) bool) func() error {
	return func() error {
		for _, i := range nodes {
			under, err := underReplicated(c, i)
			if err != nil {
				return err
			}
			if !ok(under) {
				return fmt.Errorf("node %d counts %d under-replicated records", i, under)
			}
		}
		return nil
	}
}

// TestUnderReplicatedFromTheFirstDoubt: records.under_replicated counts
// the records a node holds with a peer from the moment that peer's
// connections close, not from its eviction: a partitioned holder's
// co-holders count them until it is reachable again and the pass its
// answer calls for (routing's PeerRecovered) has synced its ranges (then
// 0: no stale count, whatever a pass during the partition left
// incomplete), and a killed holder's co-holders count them until the keys are
// back on k holders. The prober needs 100 failed probes to evict (about 2
// s for a killed peer, whose dials are refused; 20 s for a partitioned
// one), so the doubt is seen well before the eviction; sweeps are a minute
// apart, so repair follows the eviction.
func TestUnderReplicatedFromTheFirstDoubt(t *testing.T) {
	const k, n, keys = 3, 6, 30
	c := newCluster(t, n, func(_ int, cfg *config.Config) {
		cfg.Replication.Factor = k
		cfg.Replication.RepairInterval = time.Minute
		cfg.Routing.ProbeFailures = 100
	})
	for i := range keys {
		mustPut(t, c, 0, fmt.Sprintf("key-%d", i), "v")
	}
	holders, _ := mustHolderIndexes(t, c, 0, "key-0")
	victim := holders[slices.IndexFunc(holders, func(h int) bool { return h != 0 })] // node 0 is the bootstrap
	var coHolders []int
	for _, h := range holders {
		if h != victim {
			coHolders = append(coHolders, h)
		}
	}
	zero := func(under int) bool { return under == 0 }
	c.WaitUntil(20*time.Second, "no under-replicated record after the writes", allUnderReplicated(c, c.Running(), zero))
	// The passes the joins kicked must be over: one that ran while the
	// holder is doubted would plan without it (it is suspect), and sync its
	// ranges to another peer instead, as repair should.
	repairBytes := func() []uint64 {
		var out []uint64
		for _, i := range c.Running() {
			st, err := statusOf(c, i)
			if err != nil {
				return nil
			}
			out = append(out, st.Replication.RepairBytesTotal)
		}
		return out
	}
	last, lastChange := repairBytes(), time.Now()
	c.WaitFor(20*time.Second, "repair passes done (no repair traffic for 1 s)", func() bool {
		if now := repairBytes(); now == nil || !slices.Equal(now, last) {
			last, lastChange = now, time.Now()
		}
		return time.Since(lastChange) >= time.Second
	})

	c.Partition([]int{victim})
	took := c.WaitUntil(10*time.Second, "the co-holders counting the partitioned holder's records", allUnderReplicated(c, coHolders, func(u int) bool { return u > 0 }))
	t.Logf("holder %d of key-0 partitioned away: co-holders %v count under-replicated records after %v", victim, coHolders, took)
	c.Heal([]int{victim})
	// The pass the holder's answer calls for (a gather of up to 2 s, then
	// digest syncs of its ranges) ends the count: 2-3 s at a quarter of a
	// core.
	took = c.WaitUntil(20*time.Second, "no under-replicated record once the holder is reachable again", allUnderReplicated(c, c.Running(), zero))
	t.Logf("partition healed: no under-replicated record after %v", took)

	c.Kill(victim)
	seen := map[int]int{}
	took = c.WaitFor(10*time.Second, "every co-holder counting the killed holder's records", func() bool {
		for _, i := range coHolders {
			if u, _ := underReplicated(c, i); u > 0 {
				seen[i] = u
			}
		}
		return len(seen) == len(coHolders)
	})
	t.Logf("holder %d killed: co-holders counted %v under-replicated records within %v", victim, seen, took)
	took = c.WaitUntil(30*time.Second, "every key back on k up-to-date holders and nothing under-replicated", func() error {
		for i := range keys {
			if err := onHolders(c, 0, fmt.Sprintf("key-%d", i), k, victim); err != nil {
				return err
			}
		}
		return allUnderReplicated(c, c.Running(), zero)()
	})
	t.Logf("repaired, and no under-replicated record, %v later", took)
}
