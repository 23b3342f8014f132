//go:build !linux

package timerslack

import "time"

// Ensure does nothing where threads have no settable timer slack.
func Ensure(want time.Duration, args, environ []string) error { return nil }
