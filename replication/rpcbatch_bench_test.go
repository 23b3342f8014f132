package replication

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/internal/loadbench"
)

// BenchmarkServeBatchCreates measures a holder serving a BATCH message of
// maxBatch CREATEs of new keys (1 KiB values), as a bulk put sends it
// (bulk.go), over an on-disk LevelDB store: an op is one batch. It reports
// wall time, CPU time (getrusage, all threads) and allocations per entry.
// "signed" has each signature checked, as a holder does; "verified" primes
// the signature cache first, to show what is left besides Ed25519.
func BenchmarkServeBatchCreates(b *testing.B) {
	for _, verified := range []bool{false, true} {
		name := "signed"
		if verified {
			name = "verified"
		}
		b.Run(name, func(b *testing.B) { benchmarkServeBatchCreates(b, verified) })
	}
}

func benchmarkServeBatchCreates(b *testing.B, verified bool) {
	s := newBenchStore(b)
	sv := &rpcServer{store: s, limit: 1024 + messageOverhead, ctx: context.Background()}
	priv := newKey(b)
	value := make([]byte, 1024)
	reqs := make([][]byte, maxBatch)
	var cpu, wall time.Duration
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		now := time.Now().UnixNano()
		for j := range reqs {
			r := signed(b, priv, Record{Key: fmt.Sprintf("create/%08d", i*maxBatch+j), Value: value, Version: 1, WrittenAt: now})
			if verified {
				if err := s.valid.check(r); err != nil {
					b.Fatal(err)
				}
			}
			reqs[j] = encodeRecordRequest(opCreate, r)
		}
		msg := encodeBatch(reqs)
		c0, w0 := loadbench.CPUTime(b), time.Now()
		b.StartTimer()
		answer := sv.serveBatch("asker", msg)
		b.StopTimer()
		cpu += loadbench.CPUTime(b) - c0
		wall += time.Since(w0)
		answers, err := decodeBatchAnswer(answer, len(reqs))
		if err != nil {
			b.Fatal(err)
		}
		for j, a := range answers {
			if len(a) != 1 || a[0] != statusOK {
				b.Fatalf("answer %d: %q", j, a)
			}
		}
		b.StartTimer()
	}
	n := float64(b.N * maxBatch)
	b.ReportMetric(float64(wall.Nanoseconds())/n, "ns/entry")
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/entry")
}
