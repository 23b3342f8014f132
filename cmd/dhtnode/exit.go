package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/node"
)

// Exit codes (SPEC §3).
const (
	exitOK     = 0 // success
	exitFailed = 1 // the operation failed: not found, quorum not reached, node unreachable
	exitUsage  = 2 // bad command line or configuration
)

// usageError marks an error in how the command was called; the command's
// usage is printed with it.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// configError marks a configuration that cannot be used.
type configError struct{ err error }

func (e configError) Error() string { return "invalid configuration: " + e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// exitCode maps the error a command returned to the process exit code. It
// is the only place that decides exit codes.
func exitCode(err error) int {
	var (
		usage    usageError
		cfg      configError
		keyErr   *config.KeyError
		validErr *config.ValidationError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &usage), errors.As(err, &cfg), errors.As(err, &keyErr), errors.As(err, &validErr):
		return exitUsage
	// The node refused what the user asked for: a bad key or parameter, a
	// value over the limit, or a missing or wrong token.
	case errors.Is(err, node.ErrBadRequest), errors.Is(err, node.ErrTooLarge), errors.Is(err, node.ErrUnauthorized):
		return exitUsage
	default:
		return exitFailed
	}
}

// printError writes err to w as one line: "dhtnode: ...". Joined errors
// (several invalid config keys) are separated by "; ".
func printError(w io.Writer, err error) {
	fmt.Fprintln(w, "dhtnode: "+strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; "))
}
