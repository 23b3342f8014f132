// Package timerslack gives every thread of a daemon, the Go runtime's own
// included, a coarser timer slack: how late the kernel may fire a thread's
// timers and sleeps so that it can batch their wake-ups.
//
// Why: the Go runtime's monitor thread (sysmon) sleeps 20 µs between checks
// for as long as the process has work, and the first system call after the
// process was idle wakes it again. A DHT node's work is many small messages,
// each waking the process, and on a host running many nodes a process with
// work often waits for a CPU, so sysmon polls all that time: at the
// kernel's default slack (50 µs) its wake-ups were 70 % of the nodes'
// context switches and about a sixth of their CPU in the benchmark
// (BENCHMARKS.md). With more slack it wakes less often. Go's own timers
// already fire on a millisecond grid when a process is idle (the network
// poller waits in whole milliseconds), so a fraction of a millisecond
// changes them little. systemd's TimerSlackNSec= sets the same value for a
// unit.
//
// The slack of a thread is inherited by the threads it creates and kept
// across execve, and sysmon starts before any Go code runs; without
// CAP_SYS_NICE a process can change only its calling thread's slack. So Ensure
// sets the slack on its own thread and re-executes the binary, once.
package timerslack

import (
	"fmt"
	"strings"
	"time"
)

// Env names the environment variable that sets the slack: a duration
// ("1ms", "200us"), the least the process runs with (a larger inherited
// slack is kept), or "0" to keep the slack the process inherited.
const Env = "DHTNODE_TIMER_SLACK"

// Default is the slack when Env is unset. sysmon's 20 µs sleeps last about
// 270 µs with it instead of 70 µs; 1 ms saved as much CPU in the benchmark
// but made the tail of serial gets longer.
const Default = 250 * time.Microsecond

// maxSlack bounds the setting: beyond it timers would be late enough to
// matter to request deadlines and hedged reads.
const maxSlack = 100 * time.Millisecond

// reexecMarker is set in the environment of the re-executed process, so that
// a kernel that ignores the setting cannot cause an exec loop.
const reexecMarker = "DHTNODE_TIMER_SLACK_SET"

// Parse reads Env's value: "" means Default, "0" means keep the inherited
// slack (returned as 0).
func Parse(value string) (time.Duration, error) {
	value = strings.TrimSpace(value)
	switch value {
	case "":
		return Default, nil
	case "0":
		return 0, nil
	}
	d, err := time.ParseDuration(value)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a duration such as 1ms, or 0 to keep the inherited slack", Env, value)
	}
	if d < 0 || d > maxSlack {
		return 0, fmt.Errorf("%s=%q: want between 0 and %v", Env, value, maxSlack)
	}
	return d, nil
}
