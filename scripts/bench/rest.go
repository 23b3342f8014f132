package main

import (
	"context"
	"time"
)

// The rest window of the volume mode: what the loaded network spends while
// no client talks to it. The nodes' repair counters are read every minute,
// so that the minutes right after the load (the load's last reconciliation)
// can be told from the steady state.
//
// Two counters: replication.repair_bytes_total counts a sync session's
// bytes on both sides (each node counts what it sent and received), so
// summing it over the nodes counts every byte that crossed the network
// twice; replication.repair_bytes_sent_total counts each byte once (the
// sender's side, and what audits fetched), and its sum is the network's
// repair traffic. The goal (<= 1 % of the stored bytes per hour) is checked
// on that traffic.

// RestResult is what the loaded network spends while no client talks to it.
type RestResult struct {
	Seconds float64 `json:"seconds"`
	// CPUCores is each node's CPU use over the window, in cores.
	CPUCores CountSummary `json:"cpu_cores"`
	// RepairBytesPerMin is each node's replication.repair_bytes_total
	// growth per minute (sent and received); nil when a node does not
	// report it.
	RepairBytesPerMin *CountSummary `json:"repair_bytes_per_min,omitempty"`
	// RepairPerStoredHour is the network's repair bytes in an hour at this
	// rate over the stored bytes (records.bytes summed), summing
	// repair_bytes_total (a sync byte counted on both sides, as the runs
	// before i20f reported it); nil when either is unknown.
	RepairPerStoredHour *float64 `json:"repair_per_stored_hour,omitempty"`
	// Whole is the whole window, Minutes each minute of it (the last may
	// be shorter), Steady the window from -rest-skip on (nil when -rest is
	// not longer than -rest-skip); all nil when the nodes do not report
	// repair bytes.
	Whole   *RepairWindow  `json:"whole,omitempty"`
	Minutes []RepairWindow `json:"minutes,omitempty"`
	Steady  *RepairWindow  `json:"steady,omitempty"`
	// Counters are dhtnode's audits and repairs over the window.
	Counters *ReplicationCounters `json:"counters,omitempty"`
}

// RepairWindow is the repair bytes of a span of the rest window.
type RepairWindow struct {
	From float64 `json:"from_s"` // seconds into the rest window
	To   float64 `json:"to_s"`
	// BytesPerMin is each node's repair_bytes_total growth per minute
	// (what it sent and received).
	BytesPerMin CountSummary `json:"bytes_per_min"`
	// SentPerMin is each node's repair_bytes_sent_total growth per
	// minute; nil when the nodes do not report it.
	SentPerMin *CountSummary `json:"sent_per_min,omitempty"`
	// TrafficPerMin is the network's repair traffic per minute, each byte
	// once: SentPerMin summed, or, when the nodes do not report it,
	// BytesPerMin summed (then BothSides is set: an overcount, up to 2×).
	TrafficPerMin float64 `json:"traffic_per_min"`
	BothSides     bool    `json:"both_sides,omitempty"`
	// PerStoredHour is TrafficPerMin over an hour as a fraction of the
	// stored bytes; nil when nothing is stored.
	PerStoredHour *float64 `json:"per_stored_hour,omitempty"`
	// LookupsPerMin is the network's repair lookups per minute
	// (repair_lookups_total summed): probes, planned ranges,
	// anti-entropy's checks of its partners.
	LookupsPerMin float64 `json:"lookups_per_min"`
}

// repairSample is the live nodes' repair counters at one moment of the
// rest window.
type repairSample struct {
	at    time.Duration // since the window began
	total []float64     // repair_bytes_total per node; nil if one lacks it
	sent  []float64     // repair_bytes_sent_total per node; nil if one lacks it
	// lookups is repair_lookups_total summed over the nodes.
	lookups float64
}

// sampleRepair reads the repair counters of statuses taken at.
func sampleRepair(at time.Duration, sts []*Status) repairSample {
	s := repairSample{at: at}
	sentAll := true
	for _, st := range sts {
		if st == nil || st.Replication == nil || st.Replication.RepairBytes == nil {
			return repairSample{at: at}
		}
		s.total = append(s.total, float64(*st.Replication.RepairBytes))
		s.lookups += float64(st.Replication.Lookups)
		if b := st.Replication.RepairBytesSent; b != nil {
			s.sent = append(s.sent, float64(*b))
		} else {
			sentAll = false
		}
	}
	if !sentAll {
		s.sent = nil
	}
	return s
}

// repairWindow returns the repair bytes between samples a and b, with the
// stored bytes; false when either lacks the counters.
func repairWindow(a, b repairSample, stored int64) (RepairWindow, bool) {
	d := b.at - a.at
	if a.total == nil || len(a.total) != len(b.total) || d <= 0 {
		return RepairWindow{}, false
	}
	w := RepairWindow{From: a.at.Seconds(), To: b.at.Seconds(), LookupsPerMin: PerMinute(b.lookups-a.lookups, d)}
	perMin := func(x, y []float64) ([]float64, float64) {
		out := deltas(x, y)
		var sum float64
		for i := range out {
			out[i] = PerMinute(out[i], d)
			sum += out[i]
		}
		return out, sum
	}
	total, sum := perMin(a.total, b.total)
	w.BytesPerMin = SummarizeCounts(total)
	w.TrafficPerMin, w.BothSides = sum, true
	if a.sent != nil && len(a.sent) == len(b.sent) {
		sent, sum := perMin(a.sent, b.sent)
		s := SummarizeCounts(sent)
		w.SentPerMin, w.TrafficPerMin, w.BothSides = &s, sum, false
	}
	if f, ok := HourlyFraction(w.TrafficPerMin, float64(stored)); ok {
		w.PerStoredHour = &f
	}
	return w, true
}

// repairWindows fills r's repair figures from samples taken over the window
// (the first at its start, the last at its end, one a minute between);
// the steady window starts at the first sample at or after skip.
func (r *RestResult) repairWindows(samples []repairSample, stored int64, skip time.Duration) {
	if len(samples) < 2 {
		return
	}
	first, last := samples[0], samples[len(samples)-1]
	whole, ok := repairWindow(first, last, stored)
	if !ok {
		return
	}
	r.Whole = &whole
	r.RepairBytesPerMin = &whole.BytesPerMin
	if f, ok := HourlyFraction(whole.BytesPerMin.Mean*float64(whole.BytesPerMin.N), float64(stored)); ok {
		r.RepairPerStoredHour = &f
	}
	for i := 1; i < len(samples); i++ {
		if w, ok := repairWindow(samples[i-1], samples[i], stored); ok {
			r.Minutes = append(r.Minutes, w)
		}
	}
	for _, s := range samples[1 : len(samples)-1] {
		if s.at >= skip {
			if w, ok := repairWindow(s, last, stored); ok {
				r.Steady = &w
			}
			break
		}
	}
}

// rest measures each live node's CPU and repair bytes over -rest, reading
// the repair counters every minute.
func (v *volumeRun) rest(ctx context.Context, stored int64) (*RestResult, error) {
	live := v.c.Live()
	counted0, counting := v.c.Counters(ctx)
	cpu0, err := nodeCPU(live)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	samples := []repairSample{sampleRepair(0, v.c.statuses(ctx, live))}
	for left := v.o.Rest; left > 0; left = v.o.Rest - time.Since(start) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(min(left, time.Minute-time.Since(start)%time.Minute)):
		}
		sts := v.c.statuses(ctx, live)
		samples = append(samples, sampleRepair(time.Since(start), sts))
		if w, ok := repairWindow(samples[len(samples)-2], samples[len(samples)-1], stored); ok && w.PerStoredHour != nil {
			logf("    rest %3.0f-%3.0f s: repair traffic %.0f B/min (%.3f %%/h of stored), per node median %.0f B/min sent and received, %.0f repair lookups/min (all nodes)",
				w.From, w.To, w.TrafficPerMin, 100**w.PerStoredHour, w.BytesPerMin.Median, w.LookupsPerMin)
		}
	}
	cpu1, err := nodeCPU(live)
	if err != nil {
		return nil, err
	}
	d := time.Since(start)
	rr := &RestResult{Seconds: d.Seconds()}
	cores := deltas(cpu0, cpu1)
	for i := range cores {
		cores[i] /= d.Seconds()
	}
	rr.CPUCores = SummarizeCounts(cores)
	rr.repairWindows(samples, stored, v.o.RestSkip)
	if counted1, ok := v.c.Counters(ctx); counting && ok {
		c := counted1.since(counted0)
		rr.Counters = &c
	}
	return rr, nil
}
