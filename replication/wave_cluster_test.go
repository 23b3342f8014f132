package replication_test

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

// repairsTotal sums replication.repairs_total over the running nodes:
// records the nodes' range syncs moved (a copy the receiver already held
// counts too, so a record moved twice to one holder counts twice).
func repairsTotal(t *testing.T, c *testnet.Cluster) uint64 {
	t.Helper()
	var n uint64
	for _, i := range c.Running() {
		st, err := c.Client(i).Status(ctxT(t))
		if err != nil {
			t.Fatalf("status of node %d: %v", i, err)
		}
		n += st.Replication.RepairsTotal
	}
	return n
}

// TestAWaveOfDeathsMovesEachRecordAboutOnce: two holders killed at once
// are repaired by one pass per survivor (the deaths reach the routing
// tables over a few hundred milliseconds: the pass gathers them), in which
// the nearest survivor of each piece fills the replacement and the second
// responsible survivor syncs after it, finding it in sync: the records
// moved are about the copies the dead held, not twice that. Sweeps are a
// minute apart (anti-entropy minutes away), so only the wave's repair
// moves records.
func TestAWaveOfDeathsMovesEachRecordAboutOnce(t *testing.T) {
	const n, k, keys = 8, 3, 300
	c := newCluster(t, n, func(_ int, cfg *config.Config) {
		cfg.Replication.Factor = k
		cfg.Replication.RepairInterval = time.Minute
	})
	c.WaitForFullTables(20 * time.Second)
	for i := range keys {
		mustPut(t, c, i%n, fmt.Sprintf("wave-%d", i), "v")
	}
	victims := []int{2, 5} // never node 0, the bootstrap
	lost := 0              // copies the victims held
	for i := range keys {
		hs, _ := holderIndexes(t, c, 0, fmt.Sprintf("wave-%d", i))
		for _, h := range hs {
			if slices.Contains(victims, h) {
				lost++
			}
		}
	}
	before := repairsTotal(t, c)
	for _, v := range victims {
		c.Kill(v)
	}
	took := c.WaitFor(40*time.Second, "every key on k up-to-date live holders, no survivor repairing", func() bool {
		for _, i := range c.Running() {
			if underReplicated(t, c, i) != 0 {
				return false
			}
		}
		for i := range keys {
			if hs, up := holderIndexes(t, c, 0, fmt.Sprintf("wave-%d", i)); len(hs) < k || up < k {
				return false
			}
		}
		return true
	})
	// under_replicated is 0 on a survivor only once its pass's syncs, the
	// second survivors' included, all ended: they are counted.
	moved := repairsTotal(t, c) - before
	t.Logf("killed %v (%d copies) at once: k holders again after %v, %d records moved", victims, lost, took, moved)
	if lost == 0 {
		t.Fatal("the victims held nothing")
	}
	// 1.0-1.27 per copy here before the change, 1.0 after (1.22 under
	// -race, where a nearest survivor may take longer than secondDelay);
	// at 100,000 keys on 20 nodes 2 or more before.
	if moved > uint64(lost)+uint64(lost)/2 {
		t.Fatalf("%d records moved to replace %d copies: more than 1.5 per copy", moved, lost)
	}
}

// TestAWaveOnTwentyNodesMovesEachRecordAboutOnce is issue 20's in-process
// measurement: 20 nodes, k = 8, 4,000 keys, 5 killed at once. The two
// responsible survivors of a piece both sync its new holder; its sessions
// over overlapping prefixes are served one after the other (syncClaims),
// so the later one finds what the earlier pushed and moves what still
// differs. Before that, 1.15-1.29 records moved per lost copy when the
// survivors' passes ran at once (both pushing into the empty holder).
// Opt-in (DHTNODE_WAVE20=1): it takes about a minute on two cores.
func TestAWaveOnTwentyNodesMovesEachRecordAboutOnce(t *testing.T) {
	if os.Getenv("DHTNODE_WAVE20") == "" {
		t.Skip("set DHTNODE_WAVE20=1 to run the 20-node wave")
	}
	const n, k, keys, batch = 20, 8, 4000, 200
	c := newCluster(t, n, func(_ int, cfg *config.Config) {
		cfg.Replication.Factor = k
		cfg.Replication.RepairInterval = time.Minute
	})
	c.WaitForFullTables(60 * time.Second)
	for b := 0; b < keys; b += batch {
		entries := make([]node.BatchEntry, batch)
		for i := range entries {
			entries[i] = node.BatchEntry{Key: fmt.Sprintf("wave20-%d", b+i), Value: []byte("v")}
		}
		res, err := c.Client(b/batch%n).PutBatch(ctxT(t), entries, node.PutOptions{})
		if err != nil {
			t.Fatalf("batch %d: %v", b/batch, err)
		}
		for _, r := range res {
			if r.Error != "" {
				t.Fatalf("put %q: %s", r.Key, r.Error)
			}
		}
	}
	stored := func() (copies, short int) {
		for _, i := range c.Running() {
			st, err := c.Client(i).Status(ctxT(t))
			if err != nil {
				return -1, -1
			}
			copies += st.Records.Count
			short += st.Records.UnderReplicated
		}
		return copies, short
	}
	c.WaitFor(60*time.Second, "k copies of every key, none short", func() bool {
		copies, short := stored()
		return copies >= k*keys && short == 0
	})
	victims := []int{3, 7, 11, 15, 19} // never node 0, the bootstrap
	lost := 0
	for _, v := range victims {
		st, err := c.Client(v).Status(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		lost += st.Records.Count
	}
	before := repairsTotal(t, c)
	for _, v := range victims {
		c.Kill(v)
	}
	took := c.WaitFor(90*time.Second, "k copies of every key again, no survivor repairing", func() bool {
		copies, short := stored()
		return copies >= k*keys && short == 0
	})
	moved := repairsTotal(t, c) - before
	per := float64(moved) / float64(lost)
	t.Logf("killed %d of %d (%d copies) at once: k copies again after %v, %d records moved: %.3f per lost copy", len(victims), n, lost, took, moved, per)
	if per > 1.1 {
		t.Fatalf("%d records moved to replace %d copies: %.3f per copy, more than 1.1", moved, lost, per)
	}
}
