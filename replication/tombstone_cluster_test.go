package replication_test

import (
	"errors"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/node"
)

// replication.tombstone_ttl sets how long holders keep a delete's
// tombstone: with 3 s, every holder drops it within a few sweeps.
func TestTombstoneTTLIsASetting(t *testing.T) {
	const ttl = 3 * time.Second
	c := newCluster(t, 3, func(_ int, cfg *config.Config) {
		cfg.Replication.Factor = 3
		cfg.Replication.TombstoneTTL = ttl
	})
	mustPut(t, c, 0, "short-lived", "v")
	if _, err := c.Client(0).Delete(ctxT(t), "short-lived"); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	counts := func(want int) func() bool {
		return func() bool {
			for i := range 3 {
				st, err := c.Client(i).Status(ctxT(t))
				if err != nil || st.Records.Count != want {
					return false
				}
			}
			return true
		}
	}
	c.WaitFor(10*time.Second, "the tombstone counted on every node", counts(1))
	c.WaitFor(ttl+10*time.Second, "no record left on any node", counts(0))
	if took := time.Since(deleted); took < ttl {
		t.Fatalf("tombstones dropped %v after the delete, before their %v retention", took, ttl)
	}
}

// A node down for longer than the tombstone retention must not bring back a
// value deleted meanwhile, once the other holders have dropped the
// tombstone: it sets its records aside at start and settles them with the
// network first. A key that was not deleted comes back to it by repair.
func TestReturningNodeDoesNotResurrectAnExpiredDelete(t *testing.T) {
	const ttl = 3 * time.Second
	c := newCluster(t, 3, func(_ int, cfg *config.Config) {
		cfg.Replication.Factor = 3 // every node holds every key
		cfg.Replication.TombstoneTTL = ttl
	})
	mustPut(t, c, 0, "doomed", "old value")
	mustPut(t, c, 0, "kept", "still here")
	c.WaitUntil(15*time.Second, "both keys on all three nodes", func() error {
		if err := onHolders(c, 0, "doomed", 3); err != nil {
			return err
		}
		return onHolders(c, 0, "kept", 3)
	})
	const away = 2
	c.Stop(away)
	c.WaitForFullTables(15 * time.Second)
	if _, err := c.Client(0).Delete(ctxT(t), "doomed"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	c.WaitFor(ttl+15*time.Second, "the tombstone dropped by the nodes that stayed", func() bool {
		for _, i := range []int{0, 1} {
			st, err := c.Client(i).Status(ctxT(t))
			if err != nil || st.Records.Count != 1 {
				return false
			}
		}
		return true
	})
	c.Start(away)
	c.WaitForFullTables(30 * time.Second)
	// Several repair intervals on the returned node: its audits would have
	// pushed its old copy within one or two.
	c.WaitFor(20*time.Second, "the kept key back on the returned node and settled", func() bool {
		st, err := c.Client(away).Status(ctxT(t))
		return err == nil && st.Records.Count == 1 && readsBack(c, away, "kept", "still here")
	})
	settled := time.Now()
	c.WaitFor(20*time.Second, "three more repair sweeps", func() bool {
		return time.Since(settled) > 3*c.Config(away).Replication.RepairInterval
	})
	for i := range 3 {
		if _, _, err := c.Client(i).Get(ctxT(t), "doomed", 3); !errors.Is(err, node.ErrNotFound) {
			t.Fatalf("read of the deleted key through node %d with r=3: %v, want not found", i, err)
		}
		if !readsBack(c, i, "kept", "still here") {
			t.Fatalf("kept key not readable through node %d", i)
		}
	}
}
