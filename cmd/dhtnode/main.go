// Command dhtnode runs a dhtnode daemon and talks to one over its HTTP API
// (SPEC §3).
package main

import (
	"context"
	"os"

	_ "github.com/dhtnode/dhtnode/cmd/dhtnode/internal/earlytune" // re-executes "dhtnode run" tuned, early
)

func main() {
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, environ: os.Environ(), tuneRuntime: true}
	os.Exit(a.execute(context.Background(), os.Args[1:]))
}
