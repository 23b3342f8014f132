package replication_test

import (
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/config"
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
