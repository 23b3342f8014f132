package replication

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRecordProtocolCreate measures what one holder write costs: a
// CREATE of a fresh, signed 1 KiB record over the record protocol (loopback
// TCP, noise, yamux) from 8 concurrent writers, answered by a holder that
// verifies and stores it. Besides ns/op (wall time, shared by the 8
// writers) it reports cpu-µs/op, the process's CPU time per request, both
// hosts together: on a shared machine a steadier measure than wall time.
func BenchmarkRecordProtocolCreate(b *testing.B) {
	const writers = 8
	p := newRPCPair(b, nil)
	tr := &transport{self: "not-the-server", store: p.store, client: p.client}
	priv := newKey(b)
	value := make([]byte, 1024)
	recs := make([]*Record, b.N)
	for i := range recs {
		recs[i] = signed(b, priv, Record{Key: fmt.Sprintf("bench-%d", i), Value: value, Version: 1, WrittenAt: time.Now().UnixNano()})
	}
	id := p.server.ID()
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	cpu0 := processCPU(b)
	b.ResetTimer()
	for range writers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < b.N; i = int(next.Add(1)) - 1 {
				if have, err := tr.conditional(ctx, id, recs[i], opCreate); err != nil || have != nil {
					b.Errorf("create %d: %v, %v", i, have, err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU returns the user and system CPU time this process used so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
