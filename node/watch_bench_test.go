package node_test

import (
	"context"
	"fmt"
	"github.com/dhtnode/dhtnode/config"
	"slices"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

// BenchmarkWatchLatency measures how long after a put through node 0 starts
// a watcher on node 4 of a 5-node network receives the new version (SSE over
// real HTTP, holders notifying over the watch protocol), with 1 and 1,000
// watchers on one key and with 1,000 keys watched (one watcher each; the
// puts go round the keys). It reports the p50 and p99 of that latency and
// of the put alone, in milliseconds:
//
//	go test -run '^$' -bench WatchLatency -benchtime 300x ./node/
func BenchmarkWatchLatency(b *testing.B) {
	for _, bc := range []struct {
		name           string
		watchers, keys int
	}{{"watchers=1", 1, 1}, {"watchers=1000/one_key", 1000, 1}, {"keys=1000", 1000, 1000}} {
		b.Run(bc.name, func(b *testing.B) { benchWatch(b, bc.watchers, bc.keys) })
	}
}

// arrival is one version seen by one watcher, and when.
type arrival struct {
	version uint64
	at      time.Time
}

func benchWatch(b *testing.B, watchers, keys int) {
	// Each watch stream holds an API connection: the watchers' node needs
	// more than the default api.max_connections.
	c := testnet.New(b, 5, func(_ int, cfg *config.Config) { cfg.API.MaxConnections = watchers + 64 })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, watchers)
	defer func() {
		cancel()
		for range watchers {
			<-done
		}
	}()
	client := c.Client(4)
	byKey := make([][]chan arrival, keys)
	for i := range watchers {
		k := i % keys
		ch := make(chan arrival, 1024)
		byKey[k] = append(byKey[k], ch)
		go func() {
			defer func() { done <- struct{}{} }()
			_ = client.Watch(ctx, fmt.Sprintf("watched-%d", k), nil, func(ev node.WatchEvent) error {
				ch <- arrival{ev.Version, time.Now()}
				return nil
			})
		}()
	}
	for _, chans := range byKey {
		for _, ch := range chans {
			select { // the initial state
			case <-ch:
			case <-time.After(time.Minute):
				b.Fatal("a watch sent no initial state within a minute")
			}
		}
	}
	writer := c.Client(0)
	value := make([]byte, 256)
	var seen, puts []time.Duration
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := i % keys
		start := time.Now()
		res, err := writer.Put(ctx, fmt.Sprintf("watched-%d", k), value, node.PutOptions{})
		if err != nil {
			b.Fatal(err)
		}
		puts = append(puts, time.Since(start))
		for _, ch := range byKey[k] {
			for {
				var a arrival
				select {
				case a = <-ch:
				case <-time.After(30 * time.Second):
					b.Fatalf("put %d (version %d of watched-%d) not seen within 30 s", i, res.Version, k)
				}
				if a.version >= res.Version {
					seen = append(seen, a.at.Sub(start))
					break
				}
			}
		}
	}
	b.StopTimer()
	report := func(ds []time.Duration, name string) {
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2])/1e6, name+"-p50-ms")
		b.ReportMetric(float64(ds[min(len(ds)-1, len(ds)*99/100)])/1e6, name+"-p99-ms")
	}
	report(seen, "seen")
	report(puts, "put")
}
