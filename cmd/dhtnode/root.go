package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// app is one invocation of dhtnode: its standard streams and environment.
// Commands read these instead of the os package, so tests run them in-process.
type app struct {
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	environ []string
	// tuneRuntime lets "dhtnode run" tune its process: keep sysmon awake
	// and coarsen the timer slack (internal/sysmon, which re-executes the
	// binary) and size GOMAXPROCS to its load (internal/procs). Only the
	// real process sets it: both are process-wide, and tests run several
	// commands in one process.
	tuneRuntime bool
	// started is set once cobra has parsed and checked the command line and
	// runs a command; an error before that is a usage error of cobra's.
	started bool
}

// run executes the command line args and returns the exit code. Errors are
// printed to stderr as one line; usage errors also print the usage.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	return (&app{stdin: stdin, stdout: stdout, stderr: stderr, environ: environ}).execute(ctx, args)
}

// execute runs the command line args and returns the exit code.
func (a *app) execute(ctx context.Context, args []string) int {
	root := a.newRootCmd()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if !a.started {
		err = usageError{err}
	}
	printError(a.stderr, err)
	if errors.As(err, new(usageError)) {
		fmt.Fprint(a.stderr, cmd.UsageString())
	}
	return exitCode(err)
}

// getenv returns the value of the environment variable name, or "".
func (a *app) getenv(name string) string {
	value := ""
	for _, kv := range a.environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			value = v // the last one wins, as in os.Getenv
		}
	}
	return value
}

func (a *app) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "dhtnode",
		Short: "A replicated key-value store on a Kademlia DHT",
		Long: `dhtnode runs a node of a replicated key-value store built on a libp2p
Kademlia DHT ("dhtnode run"), and talks to a running node over its HTTP API
(put, get, del, status, peers, replicas).

Exit codes: 0 success, 1 the operation failed (not found, quorum not reached,
node unreachable), 2 usage or configuration error.`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		PersistentPreRun:  func(*cobra.Command, []string) { a.started = true },
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.AddCommand(
		a.newInitCmd(),
		a.newRunCmd(),
		a.newPutCmd(),
		a.newGetCmd(),
		a.newDelCmd(),
		a.newStatusCmd(),
		a.newPeersCmd(),
		a.newReplicasCmd(),
		a.newHealthCmd(),
		a.newVersionCmd(),
		a.newKeygenCmd(),
		a.newWatchCmd(),
		a.newLoadCmd(),
	)
	return root
}
