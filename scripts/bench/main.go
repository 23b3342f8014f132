// Command bench is dhtnode's benchmark harness. For each cluster size and
// system (dhtnode, and vanilla go-libp2p-kad-dht as a baseline) it starts
// N node processes on 127.0.0.1, waits for their routing tables to settle,
// runs a put/get workload through the HTTP API (8 concurrent clients, then
// serially), kills 30% and then another 20% of the nodes, and reads every
// key back. It prints a side-by-side table and one "BENCH_JSON " line.
// With -keys it runs the volume mode instead (volume.go).
//
// Run it through scripts/bench.sh, which builds bin/dhtnode and
// bin/baseline first. Linux only (it reads /proc).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run is main with an exit code: 0 when every run finished, 1 when one
// failed, 2 for bad flags.
func run(args []string) int {
	o, err := ParseOptions(args, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	if o.LoadProfile != "" {
		os.Setenv(pprofEnv, "true") // the nodes inherit it
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Println(SettleDefinition(o.SettleTarget, o.SettleWindow))
	client := NewAPIClient(o.Clients)
	if o.PutClient == "conn" {
		client.LeanPuts(o.Clients)
	}
	report := Report{Options: o}
	failed := false
	for _, n := range o.Nodes {
		for _, name := range o.Systems {
			if ctx.Err() != nil {
				break
			}
			if o.Volume() {
				r := RunVolume(ctx, newSystem(name, o), n, client, o)
				failed = failed || r.Error != ""
				report.Volume = append(report.Volume, r)
				continue
			}
			r := RunOne(ctx, newSystem(name, o), n, client, o)
			failed = failed || r.Error != ""
			report.Runs = append(report.Runs, r)
		}
	}
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "bench: interrupted; every node process was killed")
		failed = true
	}
	if o.Volume() {
		fmt.Print(FormatVolumeReport(report.Volume))
		report.Targets = CheckVolumeGoals(report.Volume)
		fmt.Print(FormatGoals("goals (issue 20, set for N=20, 100,000 keys of 1 KiB, k=8) against the dhtnode run", "ref", report.Targets))
	} else {
		fmt.Print(FormatReport(report.Runs))
		report.Targets = CheckTargets(report.Runs)
		fmt.Print(FormatTargets(report.Targets))
	}
	report.Time = time.Now().UTC()
	line, err := json.Marshal(report)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	fmt.Printf("BENCH_JSON %s\n", line)
	if failed {
		return 1
	}
	return 0
}

// logf prints a progress line to stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
