// Command chaos is a bounded fault-injection run with a checker against a
// dhtnode network started by scripts/cluster.sh (processes on 127.0.0.1)
// or scripts/testnet.sh (Docker containers), which share one interface.
// Run it through scripts/chaos.sh.
//
// It starts the network, runs concurrent writers that each own some keys
// and readers that check every value they read was written by someone,
// while a nemesis kills, stops, freezes (SIGSTOP/SIGCONT), partitions and
// heals nodes and adds packet loss (partitions and loss need testnet.sh).
// Then it undoes every fault and checks that every node reads every key's
// last acknowledged version or a later one, that no read ever returned a
// value never written, and that every routing table is whole again.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// options are chaos's flags.
type options struct {
	script    string
	nodes     int
	duration  time.Duration
	faults    int
	writers   int
	keys      int
	seed      uint64
	settle    time.Duration
	keep      bool
	runFlags  []string
	apiBase   int
	hasFaults bool // the script can partition and add loss
}

func main() {
	var o options
	flag.StringVar(&o.script, "net", "scripts/testnet.sh", "network script: scripts/testnet.sh or scripts/cluster.sh")
	flag.IntVar(&o.nodes, "nodes", 8, "nodes in the network")
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "longest time the nemesis runs")
	flag.IntVar(&o.faults, "faults", 200, "the nemesis stops after this many faults")
	flag.IntVar(&o.writers, "writers", 4, "concurrent writers")
	flag.IntVar(&o.keys, "keys", 6, "keys each writer owns")
	flag.Uint64Var(&o.seed, "seed", uint64(time.Now().UnixNano()), "random seed of the nemesis and the workload")
	flag.DurationVar(&o.settle, "settle", 120*time.Second, "bound on the recovery after the last fault")
	flag.BoolVar(&o.keep, "keep", false, "leave the network running afterwards")
	flag.Parse()
	o.runFlags = flag.Args()
	if o.nodes < 3 || o.faults < 1 || o.writers < 1 || o.keys < 1 || o.duration <= 0 {
		fmt.Fprintln(os.Stderr, "chaos: need -nodes >= 3 and positive -faults, -writers, -keys and -duration")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}
