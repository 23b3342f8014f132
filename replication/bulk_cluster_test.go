package replication_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/node"
)

// A batch through POST /v1/values on real nodes (replication.PutMany):
// every entry is acknowledged by its holders and is on them, a key with a
// record is written over at the next version, an owned key of another
// peer is refused on its own, and a holder that refuses an entry (node 5
// takes no value over 64 bytes) costs that entry one ack, not the batch.
func TestBulkPutOnRealNodes(t *testing.T) {
	c := newCluster(t, 6, bulkClusterConfig)
	const k = bulkK
	if res := mustPut(t, c, 2, "old", "before"); res.Version != 1 {
		t.Fatalf("first put of old = %+v", res)
	}
	long := bytes.Repeat([]byte("l"), 100)
	entries := []node.BatchEntry{{Key: "old", Value: []byte("after")}, {Key: "@" + c.Node(1).PeerID().String() + "/theirs", Value: []byte("x")}}
	for i := range 150 {
		v := []byte(fmt.Sprintf("value-%d", i))
		if i%10 == 0 {
			v = long
		}
		entries = append(entries, node.BatchEntry{Key: fmt.Sprintf("bulk-%d", i), Value: v})
	}
	res, err := c.Client(0).PutBatch(ctxT(t), entries, node.PutOptions{W: 2})
	if err != nil || len(res) != len(entries) {
		t.Fatalf("batch: %d results, %v", len(res), err)
	}
	if r := res[1]; r.Code != node.CodeForbidden {
		t.Errorf("owned key of node 1: %+v, want forbidden", r)
	}
	refused := 0
	for i, r := range res {
		if i == 1 {
			continue
		}
		want := uint64(1)
		if i == 0 {
			want = 2
		}
		if !r.OK() || r.Version != want || r.Acks < 2 || r.Replicas != k {
			t.Fatalf("entry %q: %+v, want version %d acknowledged by 2 or 3 of %d", r.Key, r, want, k)
		}
		if bytes.Equal(entries[i].Value, long) && r.Acks == 2 {
			refused++
		}
	}
	if refused == 0 {
		t.Error("node 5 refused none of the long values: the test lost its refusing holder")
	}
	for i, e := range entries {
		if i == 1 || (i%5 != 0 && i > 1) {
			continue // a sample
		}
		want := k
		if res[i].Acks == 2 {
			want = 2 // node 5 refused it
		}
		c.WaitUntil(20*time.Second, fmt.Sprintf("%q on its holders", e.Key), func() error {
			hs, up, err := holderIndexes(c, 3, e.Key)
			if err != nil {
				return err
			}
			if len(hs) != k || up < want {
				return fmt.Errorf("%q: holders %v, %d up to date, want %d", e.Key, hs, up, want)
			}
			return nil
		})
		if !readsBack(c, 4, e.Key, string(e.Value)) {
			t.Errorf("%q does not read back through node 4", e.Key)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	if _, _, err := c.Client(3).Get(ctx, entries[1].Key, 0); !errors.Is(err, node.ErrNotFound) {
		t.Errorf("the refused owned key: %v, want not found", err)
	}
}

// bulkK is TestBulkPutOnRealNodes's replication factor.
const bulkK = 3

// bulkClusterConfig sets TestBulkPutOnRealNodes's k and node 5's value
// limit.
func bulkClusterConfig(i int, cfg *config.Config) {
	cfg.Replication.Factor = bulkK
	if i == 5 {
		cfg.Replication.MaxValueSize = 64
	}
}
