package procs

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestControllerScalesUpAtOnceAndDownAfterCalm(t *testing.T) {
	c := &controller{policy: Policy{Up: 0.7, Down: 0.4, DownAfter: 3}, max: 8, cur: 1}
	steps := []struct {
		load float64
		want int
	}{
		{0.1, 1}, {0.69, 1}, // one processor is enough
		{0.7, 8},                     // not any more
		{0.3, 8}, {0.3, 8}, {2.5, 8}, // a busy sample restarts the count
		{0.3, 8}, {0.39, 8}, {0.1, 1}, // three calm samples in a row
		{0.5, 1},
	}
	for i, s := range steps {
		got := c.next(s.load)
		if got != s.want {
			t.Fatalf("step %d: load %.2f gave %d processors, want %d", i, s.load, got, s.want)
		}
		c.cur = got
	}
}

// TestRunFollowsTheProcessLoad burns CPU in this process and checks that
// Run gives it the default processor count, then one again once it stops,
// and the default when Run returns.
func TestRunFollowsTheProcessLoad(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("the runtime's default is one processor here: Run leaves it alone")
	}
	def := runtime.GOMAXPROCS(0)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		// Low thresholds: the test machine may be busy with other tests.
		Run(ctx, Policy{Up: 0.3, Down: 0.2, DownAfter: 2}, 50*time.Millisecond, slog.New(slog.DiscardHandler))
	})
	waitFor(t, "one processor while idle", func() bool { return runtime.GOMAXPROCS(0) == 1 })

	var burning atomic.Bool
	burning.Store(true)
	for range 2 {
		wg.Go(func() {
			for x := 0; burning.Load(); x++ {
				_ = x * x
			}
		})
	}
	waitFor(t, "the default count under load", func() bool { return runtime.GOMAXPROCS(0) == def })
	burning.Store(false)
	waitFor(t, "one processor once the load stops", func() bool { return runtime.GOMAXPROCS(0) == 1 })

	cancel()
	wg.Wait()
	if got := runtime.GOMAXPROCS(0); got != def {
		t.Fatalf("GOMAXPROCS is %d after Run returned, want the default %d", got, def)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (GOMAXPROCS %d)", what, runtime.GOMAXPROCS(0))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
