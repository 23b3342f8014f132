// Command dhtnode runs a dhtnode daemon and talks to one over its HTTP API
// (SPEC §3).
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ()))
}
