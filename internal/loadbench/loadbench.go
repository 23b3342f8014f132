// Package loadbench runs a benchmark's operations from concurrent workers
// and reports the process's CPU time per operation besides the wall time:
// on a shared machine CPU per operation is a steadier measure of the work
// done than wall time.
package loadbench

import (
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Run calls op(i) for every i in [0, b.N) from the given number of
// concurrent workers, timing only that, and reports the process's CPU time
// per operation as "cpu-µs/op". A worker stops at its first error, which
// fails b.
func Run(b *testing.B, workers int, op func(i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := CPUTime(b)
	b.ResetTimer()
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < b.N; i = int(next.Add(1)) - 1 {
				if err := op(i); err != nil {
					b.Errorf("operation %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64((CPUTime(b)-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

// CPUTime returns the user and system CPU time this process used so far,
// all its threads together.
func CPUTime(b testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
