package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Options are the benchmark's settings; every number is a flag.
type Options struct {
	Nodes         []int         `json:"nodes"`
	Systems       []string      `json:"systems"`
	Puts          int           `json:"puts"`
	Gets          int           `json:"gets"`
	ValueSize     int           `json:"value_size"`
	Clients       int           `json:"clients"`
	ClientFrac    float64       `json:"client_frac"`
	Kill1         float64       `json:"kill1"`
	Kill2         float64       `json:"kill2"`
	Wait          time.Duration `json:"wait_ns"`
	Idle          time.Duration `json:"idle_ns"`
	SettleTarget  int           `json:"settle_target"`
	SettleWindow  time.Duration `json:"settle_window_ns"`
	SettleTimeout time.Duration `json:"settle_timeout_ns"`
	ReadyTimeout  time.Duration `json:"ready_timeout_ns"`
	OpTimeout     time.Duration `json:"op_timeout_ns"`
	DhtnodeBin    string        `json:"dhtnode_bin"`
	BaselineBin   string        `json:"baseline_bin"`
	BasePort      int           `json:"base_port"`
	APIBasePort   int           `json:"api_base_port"`
	Out           string        `json:"out"`
	// PutClient is how the benchmark sends its PUTs: "http" (net/http's
	// client) or "conn" (its own connections, leanput.go).
	PutClient string `json:"put_client,omitempty"`
	// LoadProfile is a directory for CPU profiles of the nodes and of the
	// benchmark itself during the volume mode's load ("" = none).
	LoadProfile    string        `json:"load_profile,omitempty"`
	LoadProfileFor time.Duration `json:"load_profile_ns,omitempty"`
	// LoadProfileAfter is how far into the load the profiles start.
	LoadProfileAfter time.Duration `json:"load_profile_after_ns,omitempty"`
	Seed             uint64        `json:"seed"`
	// DhtnodeArgs are extra `dhtnode run` flags (after "--").
	DhtnodeArgs []string `json:"dhtnode_args"`

	// Keys > 0 selects the volume mode (volume.go); the rest are its settings.
	Keys            int           `json:"keys,omitempty"`
	Sample          int           `json:"sample,omitempty"`
	Rest            time.Duration `json:"rest_ns,omitempty"`
	RestSkip        time.Duration `json:"rest_skip_ns,omitempty"`
	KillWave        float64       `json:"kill_wave,omitempty"`
	LoadTimeout     time.Duration `json:"load_timeout_ns,omitempty"`
	ConvergeTimeout time.Duration `json:"converge_timeout_ns,omitempty"`
	CatchupWindow   time.Duration `json:"catchup_window_ns,omitempty"`
	ConvergePoll    time.Duration `json:"converge_poll_ns,omitempty"`
	// Batch > 0 makes dhtnode's load send batches of Batch keys (POST
	// /v1/values, one per client at a time) instead of one PUT per key.
	Batch int `json:"batch,omitempty"`
}

// Volume reports whether the options select the volume mode.
func (o Options) Volume() bool { return o.Keys > 0 }

// ParseOptions parses the command line (without the program name).
func ParseOptions(args []string, stderr io.Writer) (Options, error) {
	var o Options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.String("nodes", "20,50", "cluster sizes to run, comma-separated")
	systems := fs.String("systems", "dhtnode,baseline", "systems to run: dhtnode, baseline")
	fs.IntVar(&o.Puts, "puts", 200, "puts per workload round (distinct keys)")
	fs.IntVar(&o.Gets, "gets", 200, "gets per workload round")
	fs.IntVar(&o.ValueSize, "value-size", 256, "value size in bytes")
	fs.IntVar(&o.Clients, "clients", 8, "concurrent clients in the concurrent round and the failure reads")
	fs.Float64Var(&o.ClientFrac, "client-frac", 0.25, "fraction of nodes the clients talk to (never killed; at least 2)")
	fs.Float64Var(&o.Kill1, "kill1", 0.3, "fraction of nodes SIGKILLed in the first failure step")
	fs.Float64Var(&o.Kill2, "kill2", 0.2, "further fraction of nodes SIGKILLed in the second step")
	fs.DurationVar(&o.Wait, "wait", 30*time.Second, "wait after each kill step before measuring")
	fs.DurationVar(&o.Idle, "idle", 10*time.Second, "measure the settled network's idle CPU for this long before the workload (0 = skip)")
	fs.IntVar(&o.SettleTarget, "settle-target", 20, "routing-table size each node must reach (capped at N-1)")
	fs.DurationVar(&o.SettleWindow, "settle-window", 3*time.Second, "how long sizes must stay unchanged to count as settled")
	fs.DurationVar(&o.SettleTimeout, "settle-timeout", 2*time.Minute, "give up waiting for routing tables to settle after this")
	fs.DurationVar(&o.ReadyTimeout, "ready-timeout", time.Minute, "bound on starting all nodes and their /readyz")
	fs.DurationVar(&o.OpTimeout, "op-timeout", 15*time.Second, "timeout of one HTTP operation")
	fs.StringVar(&o.DhtnodeBin, "dhtnode-bin", "bin/dhtnode", "dhtnode binary")
	fs.StringVar(&o.BaselineBin, "baseline-bin", "bin/baseline", "baseline node binary (scripts/bench/baseline)")
	fs.IntVar(&o.BasePort, "base-port", 7100, "libp2p TCP port of node 0 (node i uses base+i)")
	fs.IntVar(&o.APIBasePort, "api-base-port", 8100, "HTTP API port of node 0 (node i uses base+i)")
	fs.StringVar(&o.Out, "out", ".bench", "directory for logs and per-node data")
	fs.StringVar(&o.PutClient, "put-client", "http", "how PUTs are sent: http (net/http's client) or conn "+
		"(own keep-alive HTTP/1.1 connections, a request at a time from the caller's goroutine: less client CPU; "+
		"the volume mode's default)")
	fs.StringVar(&o.LoadProfile, "load-profile", "", "volume mode: write CPU profiles of every dhtnode node (turns api.pprof on) and of the benchmark, "+
		"taken during the load, to this directory")
	fs.DurationVar(&o.LoadProfileFor, "load-profile-for", 20*time.Second, "volume mode: length of the -load-profile profiles")
	fs.DurationVar(&o.LoadProfileAfter, "load-profile-after", 5*time.Second, "volume mode: how far into the load the -load-profile profiles start "+
		"(the default passes the first puts' connection set-up; later, the store has grown)")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed (keys, values, node choice, victims)")
	fs.IntVar(&o.Keys, "keys", 0, "volume mode: load this many keys, then measure disk, RSS, rest, kills and a join (0 = the standard run)")
	fs.IntVar(&o.Sample, "sample", 200, "volume mode: keys sampled for holders and read-back after kills")
	fs.DurationVar(&o.Rest, "rest", time.Minute, "volume mode: at-rest window for CPU and repair bytes (sampled each minute)")
	fs.DurationVar(&o.RestSkip, "rest-skip", time.Minute, "volume mode: the steady-state repair figures leave out this much of the start of -rest "+
		"(the load's last reconciliation); none when -rest is not longer")
	fs.Float64Var(&o.KillWave, "kill-wave", 0.25, "volume mode: fraction of nodes SIGKILLed after the single kill")
	fs.DurationVar(&o.LoadTimeout, "load-timeout", 30*time.Minute, "volume mode: bound on loading the keys")
	fs.DurationVar(&o.ConvergeTimeout, "converge-timeout", 5*time.Minute, "volume mode: bound on each wait for re-replication or catch-up")
	fs.DurationVar(&o.CatchupWindow, "catchup-window", 15*time.Second, "volume mode: a joined node has caught up once its record count is unchanged this long")
	fs.DurationVar(&o.ConvergePoll, "converge-poll", 2*time.Second, "volume mode: how often the nodes' status and the sample are checked while waiting "+
		"(each /v1/status makes a dhtnode recount its records)")
	fs.IntVar(&o.Batch, "batch", 0, "volume mode: dhtnode's clients load batches of this many keys (POST /v1/values, at most 1000); "+
		"0 = one PUT per key; the baseline always puts one key at a time")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: bench [flags] [-- extra dhtnode run flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.DhtnodeArgs = fs.Args()
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.Volume() { // the volume mode's own defaults (issue 20)
		if !set["nodes"] {
			*nodes = "20"
		}
		if !set["value-size"] {
			o.ValueSize = 1024
		}
		if !set["put-client"] {
			// Less of the machine's CPU a put goes to the benchmark
			// (0.08 against 0.12 ms, BENCHMARKS.md session 20).
			o.PutClient = "conn"
		}
	}
	var err error
	if o.Nodes, err = parseInts(*nodes); err != nil {
		return o, fmt.Errorf("-nodes: %w", err)
	}
	o.Systems = splitList(*systems)
	return o, o.validate()
}

// validate checks the options for values the run cannot work with.
func (o Options) validate() error {
	var errs []error
	for _, n := range o.Nodes {
		if n < 3 {
			errs = append(errs, fmt.Errorf("-nodes: %d is below 3", n))
		}
		if o.Volume() {
			n++ // the node that joins last has the next ports
		}
		if mp := max(o.BasePort, o.APIBasePort) + n - 1; mp > math.MaxUint16 {
			errs = append(errs, fmt.Errorf("-nodes %d: port %d out of range", n, mp))
		}
		if lo, hi := min(o.BasePort, o.APIBasePort), max(o.BasePort, o.APIBasePort); lo+n > hi {
			errs = append(errs, fmt.Errorf("-nodes %d: libp2p and API port ranges overlap", n))
		}
	}
	if len(o.Nodes) == 0 {
		errs = append(errs, errors.New("-nodes: empty"))
	}
	for _, s := range o.Systems {
		if s != "dhtnode" && s != "baseline" {
			errs = append(errs, fmt.Errorf("-systems: unknown system %q", s))
		}
	}
	if o.PutClient != "http" && o.PutClient != "conn" {
		errs = append(errs, fmt.Errorf("-put-client: %q is neither http nor conn", o.PutClient))
	}
	if len(o.Systems) == 0 {
		errs = append(errs, errors.New("-systems: empty"))
	}
	if o.Puts < 1 || o.Gets < 0 || o.ValueSize < 0 || o.Clients < 1 {
		errs = append(errs, errors.New("-puts and -clients must be >= 1, -gets and -value-size >= 0"))
	}
	if o.Kill1 < 0 || o.Kill2 < 0 || o.Kill1+o.Kill2 >= 1 || o.ClientFrac <= 0 || o.ClientFrac+o.Kill1+o.Kill2 > 1 {
		errs = append(errs, errors.New("-kill1, -kill2 and -client-frac must be >= 0 and leave the client-facing nodes alive (client-frac+kill1+kill2 <= 1)"))
	}
	if o.Wait < 0 || o.Idle < 0 || o.SettleWindow < 0 || o.LoadProfileAfter < 0 || o.SettleTimeout <= 0 || o.ReadyTimeout <= 0 || o.OpTimeout <= 0 {
		errs = append(errs, errors.New("durations must be positive"))
	}
	if o.BasePort < 1 || o.APIBasePort < 1 || o.BasePort == o.APIBasePort {
		errs = append(errs, errors.New("-base-port and -api-base-port must be distinct positive ports"))
	}
	if o.Volume() {
		errs = append(errs, o.validateVolume()...)
	}
	return errors.Join(errs...)
}

// validateVolume checks the volume mode's settings.
func (o Options) validateVolume() []error {
	var errs []error
	if o.Sample < 1 || o.Sample > o.Keys {
		errs = append(errs, fmt.Errorf("-sample: %d must be between 1 and -keys (%d)", o.Sample, o.Keys))
	}
	if o.KillWave <= 0 || o.ClientFrac+o.KillWave >= 1 {
		errs = append(errs, errors.New("-kill-wave must be > 0 and leave the client-facing nodes and one more alive (client-frac+kill-wave < 1)"))
	}
	if o.Batch < 0 || o.Batch > maxBatch {
		errs = append(errs, fmt.Errorf("-batch: %d must be from 0 to %d", o.Batch, maxBatch))
	}
	if o.Rest < 0 || o.RestSkip < 0 || o.LoadTimeout <= 0 || o.ConvergeTimeout <= 0 || o.CatchupWindow <= 0 || o.ConvergePoll <= 0 {
		errs = append(errs, errors.New("-rest and -rest-skip must be >= 0; -load-timeout, -converge-timeout, -converge-poll and -catchup-window > 0"))
	}
	return errs
}

// maxBatch is the most keys dhtnode takes in one POST /v1/values.
const maxBatch = 1000

// ClientNodeCount is how many of n nodes face the clients: ceil(frac*n),
// at least 2 and at most n.
func ClientNodeCount(n int, frac float64) int {
	return min(n, max(2, int(math.Ceil(frac*float64(n)))))
}

// parseInts parses "20,50".
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
