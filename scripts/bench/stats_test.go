package main

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		p    float64
		want float64
	}{
		{"empty", nil, 50, 0},
		{"single", []float64{7}, 99, 7},
		{"p50 of 1..10 is the 5th", []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 50, 5},
		{"p90 of 1..10 is the 9th", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90, 9},
		{"p99 of 1..10 is the max", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99, 10},
		{"p0 is the min", []float64{3, 1, 2}, 0, 1},
		{"p100 is the max", []float64{3, 1, 2}, 100, 3},
		{"p99 of 200 is the 198th", seq(200), 99, 198},
		{"p50 of even count is the lower middle", []float64{1, 2, 3, 4}, 50, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.xs, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tt.xs, tt.p, got, tt.want)
			}
		})
	}
}

func TestPercentileDoesNotReorderInput(t *testing.T) {
	xs := []float64{3, 1, 2}
	Percentile(xs, 50)
	if xs[0] != 3 || xs[1] != 1 || xs[2] != 2 {
		t.Fatalf("input reordered: %v", xs)
	}
}

func TestSummarizeLatencies(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := SummarizeLatencies(ds)
	want := LatencySummary{Count: 100, P50: 50, P90: 90, P99: 99, Max: 100, Mean: 50.5}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if z := SummarizeLatencies(nil); z != (LatencySummary{}) {
		t.Fatalf("empty: got %+v", z)
	}
}

func TestSummarizeCounts(t *testing.T) {
	got := SummarizeCounts([]float64{8, 0, 5, 8, 0})
	want := CountSummary{N: 5, Min: 0, Median: 5, Mean: 4.2, Max: 8, Zero: 2}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if z := SummarizeCounts(nil); z != (CountSummary{}) {
		t.Fatalf("empty: got %+v", z)
	}
}

// seq returns 1..n.
func seq(n int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = float64(i + 1)
	}
	return xs
}
