package replication_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/node"
)

// A restarted node does not audit every key it holds. Audit marks lived in
// memory, so every key used to look overdue at the first sweep and its
// holders changed as its routing table filled: each restart audited each
// key once or twice. Now repair is by region (plan.go): while it settles
// (settleSweeps) the node only learns its regions, and the other holders
// sync their ranges with it, which costs digests, not per-key audits.
func TestRestartDoesNotAuditEveryKey(t *testing.T) {
	const n, keys = 4, 24
	const interval = 3 * time.Second
	c := newCluster(t, n, func(_ int, cfg *config.Config) {
		cfg.Replication.Factor = n // every node holds every key
		cfg.Replication.RepairInterval = interval
	})
	for i := range keys {
		mustPut(t, c, i%n, fmt.Sprintf("k%d", i), "v")
	}
	written := time.Now()
	// Every key on every node, and old enough that no sweep takes it for
	// one written moments ago (those are not audited by sweeps anyway).
	c.WaitUntil(30*time.Second, "every key on every node, written a sweep interval ago", func() error {
		for i := range keys {
			if err := onHolders(c, 0, fmt.Sprintf("k%d", i), n); err != nil {
				return err
			}
		}
		if age := time.Since(written); age <= interval {
			return fmt.Errorf("written %v ago", age)
		}
		return nil
	})
	restarted := n - 1
	c.Stop(restarted)
	c.Start(restarted)
	started := time.Now()
	c.WaitForFullTables(30 * time.Second)
	var st node.StatusResponse
	c.WaitFor(10*time.Second, "the restarted node's start-up sweep", func() bool {
		var err error
		st, err = c.Client(restarted).Status(ctxT(t))
		return err == nil && st.Replication.LastSweep != nil
	})
	// A restart used to audit every key in its start-up sweep.
	took := time.Since(started)
	if st.Records.Count != keys || st.Replication.AuditsTotal > keys/3 {
		t.Fatalf("restarted node, %v after its start: %d records, %d audits; want %d records and at most %d audits",
			took.Round(time.Millisecond), st.Records.Count, st.Replication.AuditsTotal, keys, keys/3)
	}
	t.Logf("%v after its restart, the node holding %d keys had audited %d", took.Round(time.Millisecond), keys, st.Replication.AuditsTotal)
}
