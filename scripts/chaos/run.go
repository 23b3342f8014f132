package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// run starts the network, runs the workload beside the nemesis, recovers,
// checks, prints the figures and reports whether the check passed.
func run(ctx context.Context, o options) (bool, error) {
	start := time.Now()
	log := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	n, err := newNetwork(o, log)
	if err != nil {
		return false, err
	}
	o = n.o
	bg := context.WithoutCancel(ctx)
	log("starting %d nodes with %s", o.nodes, o.script)
	if err := n.script(ctx, append([]string{"up", fmt.Sprint(o.nodes), "--"}, o.runFlags...)...); err != nil {
		return false, err
	}
	if !o.keep {
		defer func() {
			if err := n.script(bg, "down"); err != nil {
				log("%v", err)
			}
		}()
	}

	if err := n.refreshPIDs(ctx); err != nil {
		return false, err
	}
	h := newHistory(o.writers, o.keys)
	load, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range o.writers {
		wg.Add(1)
		go func() { defer wg.Done(); h.write(load, n, w, o.writers, rand.New(rand.NewPCG(o.seed, uint64(w)))) }()
	}
	for r := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); h.read(load, n, rand.New(rand.NewPCG(o.seed, uint64(100+r)))) }()
	}

	nem := newNemesis(n, rand.New(rand.NewPCG(o.seed, 1000)))
	chaosStart := time.Now()
	nem.run(ctx)
	chaosTime := time.Since(chaosStart)
	log("nemesis done: %d faults in %s; every fault undone", nem.total(), chaosTime.Round(time.Second))
	pause(ctx, 2*time.Second) // writes on the healed network, too
	stopLoad()
	wg.Wait()

	// The check: routing tables whole, then every key read on every node,
	// both within the settle bound.
	recovered := time.Now()
	var tables, reads []string
	for {
		tables = n.tablesWhole(bg)
		if len(tables) == 0 {
			reads = h.check(bg, n)
		}
		if (len(tables) == 0 && len(reads) == 0) || time.Since(recovered) > o.settle {
			break
		}
		pause(bg, 2*time.Second) // interrupted or not, the check gets its settle time
	}
	settled := time.Since(recovered)

	counts := make([]string, 0, len(nem.counts))
	for k, c := range nem.counts {
		counts = append(counts, fmt.Sprintf("%s %d", k, c))
	}
	sort.Strings(counts)
	fmt.Printf("chaos: %s, %d nodes, seed %d\n", o.script, o.nodes, o.seed)
	fmt.Printf("faults: %d in %s (%s); nemesis errors: %d\n", nem.total(), chaosTime.Round(time.Second), strings.Join(counts, ", "), len(nem.errs))
	fmt.Printf("writes: %d acknowledged, %d failed; reads: %d values, %d not found, %d failed\n",
		h.putsOK, h.putsFail, h.getsOK, h.getsMiss, h.getsFail)
	fmt.Printf("check after %s: %d keys x %d nodes; routing tables whole: %v; wrong reads: %d; never-written values read during the run: %d\n",
		settled.Round(100*time.Millisecond), len(h.keys), o.nodes, len(tables) == 0, len(reads), len(h.bad))
	for _, list := range [][]string{tables, reads, h.bad, nem.errs} {
		for i, s := range list {
			if i == 10 {
				fmt.Printf("  ... %d more\n", len(list)-10)
				break
			}
			fmt.Println("  " + s)
		}
	}
	ok := len(tables) == 0 && len(reads) == 0 && len(h.bad) == 0 && h.putsOK > 0
	if ok {
		fmt.Println("PASS")
	} else {
		fmt.Println("FAIL")
	}
	return ok, nil
}
