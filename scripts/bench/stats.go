package main

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 ≤ p ≤ 100) of xs by the
// nearest-rank method: the smallest sample such that at least p% of the
// samples are less than or equal to it. It returns 0 for no samples. xs is
// not modified.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return percentileSorted(s, p)
}

// percentileSorted is Percentile on already sorted samples.
func percentileSorted(s []float64, p float64) float64 {
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}

// LatencySummary is the distribution of a set of latencies, in milliseconds.
type LatencySummary struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

// SummarizeLatencies computes a LatencySummary of ds.
func SummarizeLatencies(ds []time.Duration) LatencySummary {
	if len(ds) == 0 {
		return LatencySummary{}
	}
	ms := make([]float64, len(ds))
	var sum float64
	for i, d := range ds {
		ms[i] = float64(d) / float64(time.Millisecond)
		sum += ms[i]
	}
	slices.Sort(ms)
	return LatencySummary{
		Count: len(ms),
		P50:   percentileSorted(ms, 50),
		P90:   percentileSorted(ms, 90),
		P99:   percentileSorted(ms, 99),
		Max:   ms[len(ms)-1],
		Mean:  sum / float64(len(ms)),
	}
}

// CountSummary describes a set of integer counts (replicas per key, RSS).
type CountSummary struct {
	N      int     `json:"n"`
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Mean   float64 `json:"mean"`
	Max    float64 `json:"max"`
	// Zero is how many samples were 0 (keys with no live replica).
	Zero int `json:"zero"`
}

// SummarizeCounts computes a CountSummary of xs.
func SummarizeCounts(xs []float64) CountSummary {
	if len(xs) == 0 {
		return CountSummary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	var sum float64
	zero := 0
	for _, x := range s {
		sum += x
		if x == 0 {
			zero++
		}
	}
	return CountSummary{
		N:      len(s),
		Min:    s[0],
		Median: percentileSorted(s, 50),
		Mean:   sum / float64(len(s)),
		Max:    s[len(s)-1],
		Zero:   zero,
	}
}
