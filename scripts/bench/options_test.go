package main

import (
	"io"
	"slices"
	"testing"
	"time"
)

func TestParseOptionsDefaultsAreTheStandardRun(t *testing.T) {
	o, err := ParseOptions(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Nodes, []int{20, 50}) || !slices.Equal(o.Systems, []string{"dhtnode", "baseline"}) {
		t.Errorf("nodes %v systems %v", o.Nodes, o.Systems)
	}
	if o.Puts != 200 || o.Gets != 200 || o.ValueSize != 256 || o.Clients != 8 ||
		o.Kill1 != 0.3 || o.Kill2 != 0.2 || o.Wait != 30*time.Second || o.Idle != 10*time.Second || o.BasePort != 7100 || o.APIBasePort != 8100 {
		t.Errorf("defaults: %+v", o)
	}
}

func TestParseOptionsQuickModeAndExtraArgs(t *testing.T) {
	o, err := ParseOptions([]string{"-nodes", "10", "-puts", "50", "-gets", "50", "-wait", "5s",
		"-systems", "baseline", "--", "--replication-factor", "5"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Nodes, []int{10}) || o.Puts != 50 || o.Wait != 5*time.Second || !slices.Equal(o.Systems, []string{"baseline"}) {
		t.Errorf("parsed %+v", o)
	}
	if !slices.Equal(o.DhtnodeArgs, []string{"--replication-factor", "5"}) {
		t.Errorf("extra args %q", o.DhtnodeArgs)
	}
}

func TestParseOptionsRejects(t *testing.T) {
	for name, args := range map[string][]string{
		"unknown system":           {"-systems", "redis"},
		"bad node list":            {"-nodes", "20,x"},
		"too few nodes":            {"-nodes", "2"},
		"kills leave no survivors": {"-kill1", "0.6", "-kill2", "0.4"},
		"clients would be killed":  {"-client-frac", "0.6"},
		"no clients":               {"-clients", "0"},
		"negative idle time":       {"-idle", "-1s"},
		"overlapping port ranges":  {"-base-port", "8000", "-api-base-port", "8010", "-nodes", "20"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseOptions(args, io.Discard); err == nil {
				t.Fatalf("ParseOptions(%q): want an error", args)
			}
		})
	}
}

func TestClientNodeCount(t *testing.T) {
	for _, tt := range []struct {
		n    int
		frac float64
		want int
	}{{10, 0.25, 3}, {20, 0.25, 5}, {50, 0.25, 13}, {3, 0.1, 2}, {4, 1, 4}} {
		if got := ClientNodeCount(tt.n, tt.frac); got != tt.want {
			t.Errorf("ClientNodeCount(%d, %v) = %d, want %d", tt.n, tt.frac, got, tt.want)
		}
	}
}

func TestParseOptionsVolumeMode(t *testing.T) {
	o, err := ParseOptions([]string{"-keys", "10000", "-base-port", "19000", "-api-base-port", "26000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Volume() || o.Keys != 10000 || !slices.Equal(o.Nodes, []int{20}) || o.ValueSize != 1024 || o.Clients != 8 ||
		o.Sample != 200 || o.Rest != time.Minute || o.KillWave != 0.25 || o.CatchupWindow != 15*time.Second || o.ConvergePoll != 2*time.Second ||
		o.PutClient != "conn" {
		t.Errorf("volume defaults: %+v", o)
	}
	o, err = ParseOptions([]string{"-keys", "500", "-nodes", "6", "-value-size", "64", "-rest", "0s", "-put-client", "http"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Nodes, []int{6}) || o.ValueSize != 64 || o.Rest != 0 || o.PutClient != "http" {
		t.Errorf("volume flags given: %+v", o)
	}
	if std, _ := ParseOptions(nil, io.Discard); std.Volume() || std.PutClient != "http" {
		t.Errorf("no -keys: want the standard run with net/http's client, got %+v", std)
	}
}

func TestParseOptionsRejectsVolumeSettings(t *testing.T) {
	for name, args := range map[string][]string{
		"sample above keys":            {"-keys", "100", "-sample", "101"},
		"no sample":                    {"-keys", "100", "-sample", "0"},
		"wave kills the clients":       {"-keys", "100", "-kill-wave", "0.75"},
		"no wave":                      {"-keys", "100", "-kill-wave", "0"},
		"negative rest":                {"-keys", "100", "-rest", "-1s"},
		"no catch-up window":           {"-keys", "100", "-catchup-window", "0s"},
		"no poll interval":             {"-keys", "100", "-converge-poll", "0s"},
		"joining node's port overlaps": {"-keys", "100", "-nodes", "10", "-base-port", "8000", "-api-base-port", "8010"},
		"negative batch":               {"-keys", "1000", "-batch", "-1"},
		"batch over the node's bound":  {"-keys", "1000", "-batch", "1001"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseOptions(args, io.Discard); err == nil {
				t.Fatalf("ParseOptions(%q): want an error", args)
			}
		})
	}
	// The standard run with the same ports is fine: no node joins.
	if _, err := ParseOptions([]string{"-nodes", "10", "-base-port", "8000", "-api-base-port", "8010"}, io.Discard); err != nil {
		t.Fatal(err)
	}
}
