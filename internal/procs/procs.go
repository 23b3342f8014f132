// Package procs sizes the Go scheduler (GOMAXPROCS) to a daemon's load: one
// processor while the process uses less than most of a core, the runtime's
// default (one per core, or the container's CPU limit) once it needs more.
//
// Why: a DHT node's work is many small messages. With several processors
// and little load, each message that wakes a goroutine also wakes an idle OS
// thread to look for work, which then finds none and sleeps again. On a host
// running many nodes (a local cluster, a Kubernetes node without CPU limits)
// those wake-ups cost more CPU than the messages: 50 nodes on 2 cores spent
// 35 % less CPU per get with one processor each (docs/benchmarks-history-2026.md). A node that
// does need more than a core (many clients, signature checks) gets every
// core within a sampling interval.
package procs

import (
	"context"
	"log/slog"
	"runtime"
	"syscall"
	"time"
)

// Policy decides the processor count from the CPU the process used.
type Policy struct {
	// Up is the load, in cores, at which one processor is no longer enough.
	Up float64
	// Down is the load below which the default count is more than needed.
	Down float64
	// DownAfter is how many samples in a row must stay below Down before
	// the count drops back to one, so that bursts do not make it flap.
	DownAfter int
}

// DefaultPolicy scales up at 0.7 cores and back down after 30 samples under
// 0.4 cores.
var DefaultPolicy = Policy{Up: 0.7, Down: 0.4, DownAfter: 30}

// controller applies a Policy; its state is touched only by Run's goroutine.
type controller struct {
	policy Policy
	// max is the runtime's default count, as last set.
	max  int
	cur  int
	calm int // samples in a row below policy.Down at cur = max
}

// next returns the count for the next interval given the load, in cores,
// measured over the last one.
func (c *controller) next(load float64) int {
	if c.cur == 1 {
		if load >= c.policy.Up {
			c.calm = 0
			return c.max
		}
		return 1
	}
	if load >= c.policy.Down {
		c.calm = 0
		return c.cur
	}
	c.calm++
	if c.calm >= c.policy.DownAfter {
		c.calm = 0
		return 1
	}
	return c.cur
}

// Run starts the process on one processor and resizes it every interval
// until ctx ends, then restores the runtime's default. It does nothing when
// the runtime's default is already one processor. Call it once per process:
// the count is process-wide. Operators who set GOMAXPROCS should not call it.
func Run(ctx context.Context, policy Policy, interval time.Duration, logger *slog.Logger) {
	c := &controller{policy: policy, max: runtime.GOMAXPROCS(0), cur: 1}
	if c.max <= 1 {
		return
	}
	defer runtime.SetDefaultGOMAXPROCS()
	runtime.GOMAXPROCS(1)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	last, lastAt := cpuTime(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			used := cpuTime()
			load := float64(used-last) / float64(now.Sub(lastAt))
			last, lastAt = used, now
			n := c.next(load)
			if n == c.cur {
				continue
			}
			logger.Debug("resizing the Go scheduler", "gomaxprocs", n, "from", c.cur, "load_cores", load)
			if n == 1 {
				runtime.GOMAXPROCS(1)
			} else {
				runtime.SetDefaultGOMAXPROCS() // follows later CPU-limit changes again
				n = runtime.GOMAXPROCS(0)
				c.max = n
			}
			c.cur = n
		}
	}
}

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
