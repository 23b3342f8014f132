package main

import (
	"fmt"
	"slices"
	"time"
)

// SettleDetector decides when a cluster's routing tables have settled.
//
// Definition: the cluster is settled at time t when, at the poll taken at t,
// every node's routing-table size is at least Target (= min(N-1,
// -settle-target)), and no node's size changes in any poll during the
// following Window. The settle time reported is t (measured from the start
// of the first node), not the moment the Window ran out.
//
// Feed it one poll at a time with Observe; it does no I/O and takes the
// time as a parameter.
type SettleDetector struct {
	// Target is the routing-table size every node must reach.
	Target int
	// Window is how long the sizes must stay unchanged.
	Window time.Duration

	last      []int
	candidate time.Time // start of the current stable stretch at or above Target; zero if none
}

// NewSettleDetector returns a detector for n nodes with the given per-node
// target (capped at n-1) and quiet window.
func NewSettleDetector(n, target int, window time.Duration) *SettleDetector {
	return &SettleDetector{Target: min(max(n-1, 0), target), Window: window}
}

// SettleDefinition states the settle rule for a per-node target and quiet
// window, for the report.
func SettleDefinition(target int, window time.Duration) string {
	return fmt.Sprintf("settled = the first poll (every %s, from the start of node 0) at which every node's "+
		"routing-table size is >= min(N-1, %d) and after which no node's size changes for %s",
		pollInterval, target, window)
}

// Observe records one poll of all nodes' routing-table sizes taken at now.
// It returns true and the settle time once the definition holds.
func (d *SettleDetector) Observe(now time.Time, sizes []int) (settled bool, at time.Time) {
	changed := !slices.Equal(sizes, d.last)
	d.last = slices.Clone(sizes)
	if changed || d.candidate.IsZero() {
		d.candidate = time.Time{}
		if allAtLeast(sizes, d.Target) {
			d.candidate = now
		}
	}
	if !d.candidate.IsZero() && now.Sub(d.candidate) >= d.Window {
		return true, d.candidate
	}
	return false, time.Time{}
}

// allAtLeast reports whether every element of xs is at least min (and xs is
// not empty).
func allAtLeast(xs []int, minimum int) bool {
	if len(xs) == 0 {
		return false
	}
	for _, x := range xs {
		if x < minimum {
			return false
		}
	}
	return true
}
