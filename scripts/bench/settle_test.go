package main

import (
	"strings"
	"testing"
	"time"
)

func TestSettleDetector(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	type poll struct {
		ms    int
		sizes []int
	}
	tests := []struct {
		name      string
		n, target int
		polls     []poll
		wantAt    int // ms of the settle time; -1 = never settles
	}{
		{
			name: "reaches target and stays", n: 4, target: 20,
			polls:  []poll{{0, []int{1, 1, 1, 1}}, {200, []int{3, 3, 3, 3}}, {400, []int{3, 3, 3, 3}}, {1200, []int{3, 3, 3, 3}}},
			wantAt: 200,
		},
		{
			name: "growth above target restarts the window", n: 30, target: 20,
			polls:  []poll{{0, []int{20, 21}}, {500, []int{20, 22}}, {1000, []int{20, 22}}, {1400, []int{20, 22}}, {1600, []int{20, 22}}},
			wantAt: 500,
		},
		{
			name: "a shrink also restarts the window", n: 30, target: 20,
			polls:  []poll{{0, []int{25, 25}}, {900, []int{25, 24}}, {1900, []int{25, 24}}},
			wantAt: 900,
		},
		{
			name: "below target never settles", n: 50, target: 20,
			polls:  []poll{{0, []int{19, 30}}, {2000, []int{19, 30}}, {4000, []int{19, 30}}},
			wantAt: -1,
		},
		{
			name: "a node that does not answer (-1) blocks settling", n: 3, target: 20,
			polls:  []poll{{0, []int{2, -1, 2}}, {2000, []int{2, -1, 2}}},
			wantAt: -1,
		},
		{
			name: "window not yet over", n: 3, target: 20,
			polls:  []poll{{0, []int{2, 2, 2}}, {999, []int{2, 2, 2}}},
			wantAt: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewSettleDetector(tt.n, tt.target, time.Second)
			got := -1
			for _, p := range tt.polls {
				if ok, when := d.Observe(at(p.ms), p.sizes); ok {
					got = int(when.Sub(t0) / time.Millisecond)
					break
				}
			}
			if got != tt.wantAt {
				t.Fatalf("settled at %d ms, want %d", got, tt.wantAt)
			}
		})
	}
}

func TestSettleTargetIsCappedAtNMinus1(t *testing.T) {
	if got := NewSettleDetector(10, 20, time.Second).Target; got != 9 {
		t.Errorf("N=10: target %d, want 9", got)
	}
	if got := NewSettleDetector(50, 20, time.Second).Target; got != 20 {
		t.Errorf("N=50: target %d, want 20", got)
	}
}

func TestSettleDefinitionNamesTheRule(t *testing.T) {
	def := SettleDefinition(20, 3*time.Second)
	for _, want := range []string{"min(N-1, 20)", "3s", "200ms"} {
		if !strings.Contains(def, want) {
			t.Errorf("definition %q lacks %q", def, want)
		}
	}
}
