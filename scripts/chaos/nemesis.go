package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The nemesis holds at most maxDown nodes killed or stopped and maxFrozen
// nodes frozen at once. A freeze is undone at once (SIGCONT); a killed or
// stopped node takes a start and its wait for readiness, so freezes get a
// slot of their own and the run is not paced by restarts alone.
const (
	maxDown   = 2
	maxFrozen = 1
)

// nemesis injects faults: node faults (kill, stop, freeze) on at most
// maxDown + maxFrozen nodes at a time, each undone after a random hold, and, with a
// script that has them, network faults (partition, loss) one at a time,
// beside the node faults.
type nemesis struct {
	n      *network
	rng    *rand.Rand
	mu     sync.Mutex
	busy   map[int]string // node (or netSlot) → the fault it is held for
	counts map[string]int
	errs   []string
}

func newNemesis(n *network, rng *rand.Rand) *nemesis {
	return &nemesis{n: n, rng: rng, busy: map[int]string{}, counts: map[string]int{}}
}

// total is the number of faults injected so far.
func (m *nemesis) total() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := 0
	for _, c := range m.counts {
		t += c
	}
	return t
}

// run injects faults until it has injected o.faults or o.duration has
// passed, then undoes them all.
func (m *nemesis) run(ctx context.Context) {
	o := m.n.o
	deadline := time.Now().Add(o.duration)
	var wg sync.WaitGroup
	for ctx.Err() == nil && time.Now().Before(deadline) && m.total() < o.faults {
		for _, kind := range []string{"freeze", []string{"kill", "stop"}[m.rng.IntN(2)]} {
			i := m.claimNode(kind)
			if i < 0 {
				continue
			}
			hold := time.Duration(1000+m.rng.IntN(4000)) * time.Millisecond
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer m.release(i)
				m.nodeFault(ctx, kind, i, hold)
			}()
		}
		if o.hasFaults && m.claimNet() {
			hold := time.Duration(2000+m.rng.IntN(4000)) * time.Millisecond
			loss, groups := m.rng.IntN(3) == 0, m.split()
			spec := []string{"loss 5%", "loss 20%", "delay 10ms loss 5%"}[m.rng.IntN(3)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer m.release(netSlot)
				if loss {
					m.netFault(ctx, "loss", hold, "netem", spec)
				} else {
					m.netFault(ctx, "partition", hold, append([]string{"partition"}, groups...)...)
				}
			}()
		}
		pause(ctx, 500*time.Millisecond)
	}
	wg.Wait()
	if o.hasFaults {
		m.note(m.n.script(context.WithoutCancel(ctx), "heal"))
		m.note(m.n.script(context.WithoutCancel(ctx), "netem", "off"))
	}
}

// netSlot marks the network fault in busy: one at a time.
const netSlot = -1

// claimNode marks a random node the nemesis does not hold as held for
// kind and returns it, or -1 when it holds as many for kind as it may.
func (m *nemesis) claimNode(kind string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	frozen, down := 0, 0
	for slot, k := range m.busy {
		switch {
		case slot == netSlot:
		case k == "freeze":
			frozen++
		default:
			down++
		}
	}
	if (kind == "freeze" && frozen >= maxFrozen) || (kind != "freeze" && down >= maxDown) {
		return -1
	}
	for {
		if i := m.rng.IntN(m.n.o.nodes); m.busy[i] == "" {
			m.busy[i] = kind
			return i
		}
	}
}

// claimNet marks the network fault as held, unless it is.
func (m *nemesis) claimNet() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.busy[netSlot] != "" {
		return false
	}
	m.busy[netSlot] = "network"
	return true
}

func (m *nemesis) release(slot int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.busy, slot)
}

// nodeFault kills, stops or freezes node i, waits hold, and brings it back.
func (m *nemesis) nodeFault(ctx context.Context, kind string, i int, hold time.Duration) {
	bg := context.WithoutCancel(ctx) // always undo a fault
	var err error
	switch kind {
	case "kill", "stop":
		err = m.n.script(bg, kind, fmt.Sprint(i))
	case "freeze":
		err = m.n.signal(i, syscall.SIGSTOP)
	}
	if err != nil {
		m.note(err)
		return
	}
	m.count(kind)
	m.n.log("%s node %d for %s", kind, i, hold)
	pause(ctx, hold)
	if kind == "freeze" {
		m.note(m.n.signal(i, syscall.SIGCONT))
		return
	}
	if err := m.n.script(bg, "start", fmt.Sprint(i)); err != nil {
		m.note(err)
		return
	}
	m.note(m.n.refreshPIDs(bg))
}

// netFault runs the script with args (a partition or a netem spec), waits
// hold, and undoes it.
func (m *nemesis) netFault(ctx context.Context, kind string, hold time.Duration, args ...string) {
	bg := context.WithoutCancel(ctx)
	if err := m.n.script(bg, args...); err != nil {
		m.note(err)
		return
	}
	m.count(kind)
	m.n.log("%s for %s", strings.Join(args, " "), hold)
	pause(ctx, hold)
	if kind == "loss" {
		m.note(m.n.script(bg, "netem", "off"))
	} else {
		m.note(m.n.script(bg, "heal"))
	}
}

// split returns two random groups of nodes, as "partition" takes them
// (comma-separated indexes), the smaller of 1 to 3 nodes.
func (m *nemesis) split() []string {
	nodes := m.rng.Perm(m.n.o.nodes)
	small := 1 + m.rng.IntN(min(3, m.n.o.nodes/2))
	a, b := slices.Sorted(slices.Values(nodes[:small])), slices.Sorted(slices.Values(nodes[small:]))
	join := func(g []int) string {
		s := make([]string, len(g))
		for i, v := range g {
			s[i] = fmt.Sprint(v)
		}
		return strings.Join(s, ",")
	}
	return []string{join(a), join(b)}
}

func (m *nemesis) count(kind string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counts[kind]++
}

// note records a failed fault or recovery.
func (m *nemesis) note(err error) {
	if err == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.errs = append(m.errs, err.Error())
	m.n.log("nemesis: %v", err)
}
