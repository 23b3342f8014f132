package replication_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/node"
)

// A node at storage.max_bytes refuses records of new keys, which the writer
// counts as a failed holder: with one full node of three, writes still reach
// their quorum on the other two; with two, they fail with 503. Updates of
// keys a full node holds, no bigger than its copy, are still taken, and
// every acknowledged write stays readable through every node.
func TestFullNodesRefuseNewRecordsAndLoseNone(t *testing.T) {
	const maxBytes = 6000
	c := newCluster(t, 3, func(i int, cfg *config.Config) {
		cfg.Replication.Factor = 3 // every node holds every key; W = 2
		cfg.Replication.MaxValueSize = 1024
		if i > 0 {
			cfg.Storage.MaxBytes = maxBytes
		}
	})
	value := strings.Repeat("v", 300)
	var acked []string
	var refused error
	for i := range 40 {
		key := fmt.Sprintf("q%d", i)
		res, err := c.Client(0).Put(ctxT(t), key, []byte(value), node.PutOptions{})
		if err != nil {
			refused = err
			break
		}
		acked = append(acked, key)
		if res.Acks < 2 {
			t.Fatalf("put %q acknowledged by %d holders, want at least 2", key, res.Acks)
		}
	}
	var apiErr *node.APIError
	if !errors.As(refused, &apiErr) || apiErr.Status != http.StatusServiceUnavailable || apiErr.Code != node.CodeInsufficientReplicas {
		t.Fatalf("after %d puts: %v; want the writes to fail with 503 %s once nodes 1 and 2 are full", len(acked), refused, node.CodeInsufficientReplicas)
	}
	if len(acked) < 3 {
		t.Fatalf("only %d puts succeeded before the nodes were full", len(acked))
	}
	for i := 1; i < 3; i++ {
		st, err := c.Client(i).Status(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		if !st.Records.Full || st.Records.MaxBytes != maxBytes || st.Records.Bytes > maxBytes {
			t.Fatalf("node %d records = %+v; want full, max_bytes %d and at most that many bytes", i, st.Records, maxBytes)
		}
	}

	// A same-size update of a key the full nodes hold is stored everywhere.
	res, err := c.Client(0).Put(ctxT(t), acked[0], []byte(strings.Repeat("w", 300)), node.PutOptions{})
	if err != nil || res.Acks < 2 {
		t.Fatalf("update of %q on full nodes: %+v, %v; want it acknowledged by at least 2", acked[0], res, err)
	}
	c.WaitUntil(15*time.Second, "the update on all three holders", func() error { return onHolders(c, 0, acked[0], 3) })

	// Repair sweeps push the keys the full nodes lack and are refused;
	// the full nodes drop nothing they hold.
	before, err := c.Client(1).Status(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(2 * c.Config(1).Replication.RepairInterval)
	c.WaitFor(20*time.Second, "two repair sweeps on node 1", func() bool {
		st, err := c.Client(1).Status(ctxT(t))
		return err == nil && st.Replication.LastSweep != nil && st.Replication.LastSweep.After(after)
	})
	if st, err := c.Client(1).Status(ctxT(t)); err != nil || st.Records.Count < before.Records.Count || !st.Records.Full {
		t.Fatalf("node 1 after repair sweeps: %+v, %v; had %d records, want no fewer and still full", st.Records, err, before.Records.Count)
	}
	for _, key := range acked[1:] {
		for i := range 3 {
			if !readsBack(c, i, key, value) {
				t.Fatalf("acknowledged %q not readable through node %d", key, i)
			}
		}
	}
}
