package replication

import (
	"sync/atomic"
	"time"
)

// A read asks exactly as many holders as its quorum needs. If they have not
// all answered after a hedge delay, it asks one more holder, and one more
// after each further delay, while the key's window has holders left: a
// holder that stalls (descheduled, frozen, partitioned without a reset)
// delays a read by one hedge delay instead of the RPC timeout. The delay
// follows how long holders take to answer (hedgeFactor times a moving
// average), so a healthy network hedges few reads.
const (
	hedgeFactor   = 4
	minHedgeDelay = 2 * time.Millisecond
)

// answerTime is a moving average of how long holders take to answer a read
// or a write. Writes count too, so the reads after a burst of writes start
// from a delay learnt under the same load instead of the minimum (writes
// take longer to answer: the average errs towards hedging less).
type answerTime struct {
	avg atomic.Int64 // nanoseconds; 0 until the first answer
}

// observe adds one answer's round-trip time (weight 1/8).
func (a *answerTime) observe(d time.Duration) {
	for {
		old := a.avg.Load()
		next := int64(d)
		if old != 0 {
			next = old + (int64(d)-old)/8
		}
		if a.avg.CompareAndSwap(old, next) {
			return
		}
	}
}

// hedgeDelay is how long a read waits for the holders it asked before it
// asks one more; never more than limit.
func (a *answerTime) hedgeDelay(limit time.Duration) time.Duration {
	return min(max(minHedgeDelay, hedgeFactor*time.Duration(a.avg.Load())), limit)
}
