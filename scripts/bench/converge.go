package main

import (
	"context"
	"slices"
	"time"
)

// The volume mode's timing rules, kept free of I/O so that they can be
// tested with fakes.

// Clock is the time source of WaitUntil (the real one is realClock).
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Wait is the outcome of WaitUntil.
type Wait struct {
	// After is the time from the start to the beginning of the first check
	// that held, or to the timeout.
	After    time.Duration `json:"after_ns"`
	Held     bool          `json:"held"`
	TimedOut bool          `json:"timed_out"`
	Checks   int           `json:"checks"`
}

// WaitUntil runs check every interval (a check that takes longer is
// followed by the next at once) until it reports true, timeout has passed
// since start, or ctx ends. The time reported is when the successful check
// began, so a slow check does not count against the system measured.
func WaitUntil(ctx context.Context, clk Clock, start time.Time, interval, timeout time.Duration,
	check func(context.Context) bool) Wait {
	var w Wait
	for {
		began := clk.Now()
		w.Checks++
		if check(ctx) {
			w.After, w.Held = began.Sub(start), true
			return w
		}
		if now := clk.Now(); now.Sub(start) >= timeout {
			w.After, w.TimedOut = now.Sub(start), true
			return w
		}
		select {
		case <-ctx.Done():
			return w
		case <-clk.After(max(0, interval-clk.Now().Sub(began))):
		}
	}
}

// Replicated reports whether every live node answered its status and counts
// no under-replicated record, and every sampled key has at least want live
// holders. A nil status (no answer) or one without record counts fails.
func Replicated(statuses []*Status, sampleHolders []float64, want int) bool {
	for _, st := range statuses {
		if st == nil || st.Records == nil || st.Records.UnderReplicated != 0 {
			return false
		}
	}
	for _, h := range sampleHolders {
		if h < float64(want) {
			return false
		}
	}
	return len(statuses) > 0
}

// ExpectedHolders is how many live holders a key should have: k, or every
// live node when there are fewer.
func ExpectedHolders(k, live int) int { return min(k, live) }

// ExpectedShare is the records a node should hold when keys records of k
// copies each spread evenly over live nodes.
func ExpectedShare(keys, k, live int) float64 {
	if live == 0 {
		return 0
	}
	return float64(keys) * float64(ExpectedHolders(k, live)) / float64(live)
}

// MedianRate is the median number of completions per whole second of the
// run: done are the completion times measured from the run's start, wall
// its length. The last, partial second is left out unless it is the only
// one; seconds without a completion count as 0.
func MedianRate(done []time.Duration, wall time.Duration) float64 {
	if wall <= 0 || len(done) == 0 {
		return 0
	}
	secs := int(wall / time.Second)
	if secs == 0 {
		return float64(len(done)) / wall.Seconds()
	}
	buckets := make([]float64, secs)
	for _, d := range done {
		if i := int(d / time.Second); i >= 0 && i < secs {
			buckets[i]++
		}
	}
	return Percentile(buckets, 50)
}

// PerMinute converts a count over d to a rate per minute.
func PerMinute(count float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return count / d.Minutes()
}

// HourlyFraction is what fraction of stored bytes moving perMinute bytes a
// minute amounts to in an hour; false when nothing is stored.
func HourlyFraction(perMinute, stored float64) (float64, bool) {
	if stored <= 0 {
		return 0, false
	}
	return perMinute * 60 / stored, true
}

// CatchUp decides when a joined node holds its share: its record count has
// been at least 1 and unchanged for the window (the SettleDetector rule on
// one node's count). The time is when the count last changed.
func CatchUp(window time.Duration) *SettleDetector {
	return &SettleDetector{Target: 1, Window: window}
}

// deltas returns after[i]-before[i] for every i.
func deltas(before, after []float64) []float64 {
	out := slices.Clone(after)
	for i := range out {
		out[i] -= before[i]
	}
	return out
}
