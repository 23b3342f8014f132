package replication

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/internal/loadbench"
)

// BenchmarkRecordProtocolCreate measures what one holder write costs: a
// CREATE of a fresh, signed 1 KiB record over the record protocol (loopback
// TCP, yamux) from 8 concurrent writers, answered by a holder that verifies
// and stores it. Besides ns/op (wall time, shared by the 8 writers) it
// reports cpu-µs/op, the CPU time per request of both hosts together.
func BenchmarkRecordProtocolCreate(b *testing.B) { benchmarkCreates(b, 8) }

// BenchmarkRecordProtocolCreateConcurrent is BenchmarkRecordProtocolCreate
// with 64 concurrent writers to the one holder: the load of a batch write
// (many puts at once) on one node pair, where requests to the peer can
// share frames.
func BenchmarkRecordProtocolCreateConcurrent(b *testing.B) { benchmarkCreates(b, 64) }

// benchmarkCreates sends b.N CREATEs of fresh, signed 1 KiB records from
// writers concurrent writers to one holder, and reports the requests per
// message the client sent.
func benchmarkCreates(b *testing.B, writers int) {
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
	loadbench.Run(b, writers, func(i int) error {
		have, err := tr.conditional(ctx, id, recs[i], opCreate)
		if err == nil && have != nil {
			err = fmt.Errorf("the holder has %v", have)
		}
		return err
	})
	b.ReportMetric(float64(b.N)/float64(p.client.stats.messages.Load()), "req/msg")
}
