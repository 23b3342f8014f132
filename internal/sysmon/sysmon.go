// Package sysmon tunes how the Go runtime's monitor thread (sysmon) wakes a
// daemon whose work is many small messages: it keeps sysmon out of its deep
// sleep and gives every thread a coarser timer slack.
//
// Why: sysmon sleeps 20 µs between checks for as long as the process has
// work. When the process goes idle, sysmon goes into a deep sleep, and the
// next system call the process makes wakes it again (Go 1.26,
// runtime.reentersyscall). A DHT node is idle between messages, so every
// message that arrives costs sysmon a wake-up from the deep sleep, a short
// sleep and a return to it: in the benchmark (50 nodes on 2 cores) that was
// more than half of the nodes' context switches, and keeping sysmon awake
// cut their CPU per get by 11–24 % (docs/benchmarks-history-2026.md).
//
// Keeping sysmon awake: with GODEBUG's schedtrace set, the runtime never puts
// sysmon into the deep sleep; it backs off instead, to one check every 10 ms
// while nothing needs it. Set to the largest period (2^31-1 ms, 24.8 days),
// schedtrace prints nothing on a host up for less than that, and a line on
// stderr once per period otherwise (and a crash prints the scheduler's state
// before the stack traces). The price is those checks, 100 a second in an
// idle process; GODEBUG=schedtrace=0 restores Go's default.
//
// Timer slack is how late the kernel may fire a thread's timers so that it
// can batch wake-ups. With more, sysmon's 20 µs sleeps cover more work. Go's
// own timers already fire on a millisecond grid when a process is idle (the
// network poller waits in whole milliseconds), so a fraction of a millisecond
// changes them little. systemd's TimerSlackNSec= sets the same value for a
// unit.
//
// The runtime reads GODEBUG once at start; the slack of a thread is
// inherited by the threads it creates and kept across execve, sysmon starts
// before any Go code runs, and without CAP_SYS_NICE a process can change only
// its calling thread's slack. So Ensure sets what is missing in the
// environment and on its own thread, and re-executes the binary, once.
package sysmon

import (
	"fmt"
	"strings"
	"time"
)

// SlackEnv names the environment variable that sets the slack: a duration
// ("1ms", "200us"), the least the process runs with (a larger inherited
// slack is kept), or "0" to keep the slack the process inherited.
const SlackEnv = "DHTNODE_TIMER_SLACK"

// DefaultSlack is the slack when SlackEnv is unset. sysmon's 20 µs sleeps
// last about 270 µs with it instead of 70 µs; 1 ms saved as much CPU in the
// benchmark but made the tail of serial gets longer.
const DefaultSlack = 250 * time.Microsecond

// maxSlack bounds the setting: beyond it timers would be late enough to
// matter to request deadlines and hedged reads.
const maxSlack = 100 * time.Millisecond

// keepAwake is the GODEBUG setting that keeps sysmon out of its deep sleep
// without printing scheduler traces (see the package comment).
const keepAwake = "schedtrace=2147483647"

// reexecMarker is set in the environment of the re-executed process, so that
// a kernel that ignores the slack setting cannot cause an exec loop.
const reexecMarker = "DHTNODE_RUNTIME_TUNED"

// ParseSlack reads SlackEnv's value: "" means DefaultSlack, "0" means keep
// the inherited slack (returned as 0).
func ParseSlack(value string) (time.Duration, error) {
	value = strings.TrimSpace(value)
	switch value {
	case "":
		return DefaultSlack, nil
	case "0":
		return 0, nil
	}
	d, err := time.ParseDuration(value)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a duration such as 1ms, or 0 to keep the inherited slack", SlackEnv, value)
	}
	if d < 0 || d > maxSlack {
		return 0, fmt.Errorf("%s=%q: want between 0 and %v", SlackEnv, value, maxSlack)
	}
	return d, nil
}

// withSysmonAwake returns environ with keepAwake added to GODEBUG, and
// whether that changed anything: a GODEBUG that already sets schedtrace,
// to any value, is the user's choice and is kept as it is.
func withSysmonAwake(environ []string) ([]string, bool) {
	for i, kv := range environ {
		value, ok := strings.CutPrefix(kv, "GODEBUG=")
		if !ok {
			continue
		}
		for setting := range strings.SplitSeq(value, ",") {
			if key, _, _ := strings.Cut(setting, "="); strings.TrimSpace(key) == "schedtrace" {
				return environ, false
			}
		}
		out := append([]string(nil), environ...)
		if strings.TrimSpace(value) == "" {
			out[i] = "GODEBUG=" + keepAwake
		} else {
			out[i] = kv + "," + keepAwake
		}
		return out, true
	}
	return append(append([]string(nil), environ...), "GODEBUG="+keepAwake), true
}
