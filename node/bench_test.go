package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/internal/loadbench"
	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

// Benchmarks of the HTTP value path on an in-process 10-node network with the
// default replication settings (k = 8, majority quorums). The cross-process
// benchmark against vanilla kad-dht is scripts/bench.sh.

func benchCluster(b *testing.B) (*testnet.Cluster, []string) {
	c := testnet.New(b, 10, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	keys := make([]string, 64)
	for i := range keys {
		keys[i] = fmt.Sprintf("bench-%d", i)
		if _, err := c.Client(i%10).Put(ctx, keys[i], make([]byte, 256), node.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	return c, keys
}

func BenchmarkGet(b *testing.B) {
	c, keys := benchCluster(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, _, err := c.Client((i+5)%10).Get(ctx, keys[i%len(keys)], 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPut(b *testing.B) {
	c, keys := benchCluster(b)
	ctx := context.Background()
	value := make([]byte, 256)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := c.Client(i%10).Put(ctx, keys[i%len(keys)], value, node.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutNewKeys measures the load path: puts of fresh keys with 1 KiB
// values from 8 concurrent HTTP clients spread over the nodes, with repair
// sweeps at the default interval. Besides ns/op (wall time, shared by the
// 8 clients) it reports cpu-µs/op, the CPU time of the whole process (ten
// nodes and the clients) per put.
func BenchmarkPutNewKeys(b *testing.B) {
	c := testnet.New(b, 10, func(_ int, cfg *config.Config) {
		cfg.Replication.RepairInterval = config.Default().Replication.RepairInterval
	})
	value := make([]byte, 1024)
	ctx := context.Background()
	loadbench.Run(b, 8, func(i int) error {
		_, err := c.Client(i%c.Len()).Put(ctx, fmt.Sprintf("load-%d", i), value, node.PutOptions{})
		return err
	})
}

// BenchmarkPutNewKeysConcurrent is BenchmarkPutNewKeys with 64 concurrent
// clients: the load of batch writes, where each node has several requests
// in flight to each holder at once.
func BenchmarkPutNewKeysConcurrent(b *testing.B) {
	c := testnet.New(b, 10, func(_ int, cfg *config.Config) {
		cfg.Replication.RepairInterval = config.Default().Replication.RepairInterval
	})
	value := make([]byte, 1024)
	ctx := context.Background()
	loadbench.Run(b, 64, func(i int) error {
		_, err := c.Client(i%c.Len()).Put(ctx, fmt.Sprintf("load-%d", i), value, node.PutOptions{})
		return err
	})
}

// BenchmarkPutBatches is BenchmarkPutNewKeys through POST /v1/values: an
// op is a batch of 64 fresh keys with 1 KiB values (replication.PutMany:
// each holder gets its entries' CREATEs in batch messages), from 8
// concurrent HTTP clients. cpu-µs/op is per batch: divide by 64 for a key.
func BenchmarkPutBatches(b *testing.B) {
	c := testnet.New(b, 10, func(_ int, cfg *config.Config) {
		cfg.Replication.RepairInterval = config.Default().Replication.RepairInterval
	})
	value := make([]byte, 1024)
	ctx := context.Background()
	loadbench.Run(b, 8, func(i int) error {
		entries := make([]node.BatchEntry, 64)
		for j := range entries {
			entries[j] = node.BatchEntry{Key: fmt.Sprintf("batch-%d-%d", i, j), Value: value}
		}
		results, err := c.Client(i%c.Len()).PutBatch(ctx, entries, node.PutOptions{})
		for _, r := range results {
			if err == nil && !r.OK() {
				err = fmt.Errorf("%s: %s", r.Key, r.Error)
			}
		}
		return err
	})
}
