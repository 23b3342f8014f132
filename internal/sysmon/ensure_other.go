//go:build !linux

package sysmon

import "time"

// Ensure does nothing where threads have no settable timer slack.
func Ensure(slack time.Duration, args, environ []string) error { return nil }
