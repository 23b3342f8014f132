package loadbench

import (
	"sync/atomic"
	"testing"
)

// Every operation runs once, and the CPU metric is reported.
func TestRun(t *testing.T) {
	res := testing.Benchmark(func(b *testing.B) {
		var ran atomic.Int64
		seen := make([]atomic.Bool, b.N)
		Run(b, 4, func(i int) error {
			if seen[i].Swap(true) {
				b.Errorf("operation %d ran twice", i)
			}
			ran.Add(1)
			return nil
		})
		if int(ran.Load()) != b.N {
			b.Errorf("%d operations ran; want %d", ran.Load(), b.N)
		}
	})
	if res.N == 0 {
		t.Fatal("the benchmark failed")
	}
	if _, ok := res.Extra["cpu-µs/op"]; !ok {
		t.Fatalf("metrics %v; want cpu-µs/op", res.Extra)
	}
}
