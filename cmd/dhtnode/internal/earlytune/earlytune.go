// Package earlytune applies internal/sysmon's tuning to "dhtnode run" while
// the program is still starting. The tuning re-executes the binary; from
// this package's init, which runs before the heavier packages (libp2p, QUIC,
// Prometheus, net) initialise, the first execution does little work that
// the second repeats. Re-executing from the daemon command instead, after
// every package and the configuration, took 90–94 ms of CPU until a node
// was healthy against 69–84 ms from here (docs/benchmarks-history-2026.md), which adds up
// when many nodes start on one host. The daemon command still calls
// sysmon.Ensure: it finds the tuning in place, or applies it if this init
// could not, and it reports a malformed setting as a configuration error.
//
// The dhtnode command imports this package for its side effect only.
package earlytune

import (
	"os"
	"strings"

	"github.com/dhtnode/dhtnode/internal/sysmon"
)

func init() {
	if !runsDaemon(os.Args[1:]) {
		return
	}
	slack, err := sysmon.ParseSlack(os.Getenv(sysmon.SlackEnv))
	if err != nil {
		return // the daemon command reports it
	}
	// It returns only when the tuning is in place or could not be applied;
	// the daemon command then tries again and logs why.
	_ = sysmon.Ensure(slack, os.Args, os.Environ())
}

// runsDaemon reports whether a command line (without the program name) runs
// the daemon: its first word that is not a flag is "run".
func runsDaemon(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if !strings.HasPrefix(a, "-") {
			return a == "run"
		}
	}
	return false
}
