package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fakeClock is a Clock whose time moves only when After is called (by the
// duration waited) or when a test advances it.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

var t0 = time.Date(2026, 12, 6, 16, 0, 0, 0, time.UTC)

func TestWaitUntilReportsWhenTheHoldingCheckBegan(t *testing.T) {
	clk := &fakeClock{now: t0}
	calls := 0
	// Each check takes 300 ms; the fourth holds. Checks begin at 0, 1 s,
	// 2 s and 3 s: a check shorter than the interval waits out the rest.
	w := WaitUntil(context.Background(), clk, t0, time.Second, time.Minute, func(context.Context) bool {
		calls++
		clk.now = clk.now.Add(300 * time.Millisecond)
		return calls == 4
	})
	if !w.Held || w.TimedOut || w.After != 3*time.Second || w.Checks != 4 {
		t.Fatalf("got %+v, want held after 3s in 4 checks", w)
	}
}

func TestWaitUntilSlowChecksFollowEachOther(t *testing.T) {
	clk := &fakeClock{now: t0}
	calls := 0
	w := WaitUntil(context.Background(), clk, t0, time.Second, time.Minute, func(context.Context) bool {
		calls++
		clk.now = clk.now.Add(2500 * time.Millisecond)
		return calls == 3
	})
	if !w.Held || w.After != 5*time.Second {
		t.Fatalf("got %+v, want held after 5s (checks at 0, 2.5, 5 s)", w)
	}
}

func TestWaitUntilTimesOut(t *testing.T) {
	clk := &fakeClock{now: t0}
	// The kill happened 2 s before the waiting began.
	w := WaitUntil(context.Background(), clk, t0.Add(-2*time.Second), time.Second, 10*time.Second,
		func(context.Context) bool { return false })
	if w.Held || !w.TimedOut || w.Checks != 9 || w.After != 10*time.Second {
		t.Fatalf("got %+v, want a timeout after 9 checks (at 0..8 s of the 10 s since the start)", w)
	}
}

func TestWaitUntilStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := WaitUntil(ctx, realClock{}, time.Now(), time.Hour, time.Hour, func(context.Context) bool { return false })
	if w.Held || w.TimedOut || w.Checks != 1 {
		t.Fatalf("got %+v, want one check and neither held nor timed out", w)
	}
}

func TestReplicated(t *testing.T) {
	st := func(under int) *Status { return &Status{Records: &RecordCounts{UnderReplicated: under}} }
	tests := []struct {
		name     string
		statuses []*Status
		sample   []float64
		want     int
		ok       bool
	}{
		{"all repaired", []*Status{st(0), st(0)}, []float64{8, 9, 8}, 8, true},
		{"no sample asked", []*Status{st(0)}, nil, 8, true},
		{"a node still counts one", []*Status{st(0), st(1)}, []float64{8}, 8, false},
		{"a node did not answer", []*Status{st(0), nil}, []float64{8}, 8, false},
		{"a node without record counts", []*Status{st(0), {}}, nil, 0, false},
		{"a sampled key short of holders", []*Status{st(0)}, []float64{8, 7}, 8, false},
		{"no live node", nil, nil, 0, false},
	}
	for _, tt := range tests {
		if got := Replicated(tt.statuses, tt.sample, tt.want); got != tt.ok {
			t.Errorf("%s: Replicated = %v, want %v", tt.name, got, tt.ok)
		}
	}
}

func TestExpectedHoldersAndShare(t *testing.T) {
	if got := ExpectedHolders(8, 19); got != 8 {
		t.Errorf("ExpectedHolders(8, 19) = %d", got)
	}
	if got := ExpectedHolders(8, 5); got != 5 {
		t.Errorf("ExpectedHolders(8, 5) = %d", got)
	}
	if got := ExpectedShare(100000, 8, 20); got != 40000 {
		t.Errorf("ExpectedShare(100000, 8, 20) = %v, want 40000", got)
	}
	if got := ExpectedShare(1000, 8, 4); got != 1000 {
		t.Errorf("ExpectedShare(1000, 8, 4) = %v, want every key on every node", got)
	}
	if got := ExpectedShare(1000, 8, 0); got != 0 {
		t.Errorf("ExpectedShare with no node = %v", got)
	}
}

func TestMedianRate(t *testing.T) {
	s := func(ms ...int) []time.Duration {
		out := make([]time.Duration, len(ms))
		for i, m := range ms {
			out[i] = time.Duration(m) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name string
		done []time.Duration
		wall time.Duration
		want float64
	}{
		// Seconds 0, 1, 2 hold 3, 1, 2 completions; the partial 4th second is left out.
		{"median of whole seconds", s(10, 20, 900, 1500, 2100, 2200, 3100, 3200, 3300, 3400), 3500 * time.Millisecond, 2},
		{"an empty second counts as 0", s(100, 200, 2100), 3 * time.Second, 1},
		{"shorter than a second", s(100, 200, 300), 500 * time.Millisecond, 6},
		{"nothing done", nil, time.Second, 0},
	}
	for _, tt := range tests {
		if got := MedianRate(tt.done, tt.wall); got != tt.want {
			t.Errorf("%s: MedianRate = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestRepairRates(t *testing.T) {
	if got := PerMinute(600, 30*time.Second); got != 1200 {
		t.Errorf("PerMinute(600, 30s) = %v", got)
	}
	// 1 MB a minute over 6 GB stored is 1 % an hour.
	if f, ok := HourlyFraction(1e6, 6e9); !ok || f != 0.01 {
		t.Errorf("HourlyFraction = %v, %v, want 0.01", f, ok)
	}
	if _, ok := HourlyFraction(1e6, 0); ok {
		t.Error("HourlyFraction of nothing stored: want not ok")
	}
}

func TestCatchUpIsWhenTheCountLastChanged(t *testing.T) {
	det := CatchUp(10 * time.Second)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	for _, p := range []struct{ s, count int }{{0, 0}, {1, 0}, {2, 500}, {3, 1200}, {4, 1200}, {12, 1200}} {
		if ok, _ := det.Observe(at(p.s), []int{p.count}); ok {
			t.Fatalf("caught up at %d s, before the count stayed unchanged for the window", p.s)
		}
	}
	ok, when := det.Observe(at(13), []int{1200})
	if !ok || !when.Equal(at(3)) {
		t.Fatalf("Observe = %v at %v, want caught up at 3 s", ok, when.Sub(t0))
	}
	// A node that never receives a record never catches up.
	empty := CatchUp(time.Second)
	for s := range 5 {
		if ok, _ := empty.Observe(at(s), []int{0}); ok {
			t.Fatal("a node holding nothing caught up")
		}
	}
}

func TestDirBytesCountsAllocatedBlocks(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "sub/b"} {
		if err := os.WriteFile(filepath.Join(dir, name), make([]byte, 10000), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := DirBytes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got < 20000 || got > 20000+4*64<<10 {
		t.Errorf("DirBytes = %d, want about 20000 plus the directories' blocks", got)
	}
	if _, err := DirBytes(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("DirBytes of a missing directory: %v, want not-exist", err)
	}
}
