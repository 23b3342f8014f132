package sysmon

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Ensure makes the process run with sysmon kept awake and a timer slack of at
// least slack (0: leave the slack as it is). When both are so already (the
// slack say from systemd's TimerSlackNSec=), it returns nil at once.
// Otherwise it sets them for the new image (the slack on the calling thread,
// GODEBUG in the environment) and re-executes the binary with args (argv,
// name included) and environ, and does not return; it returns an error only
// when that fails, and the process carries on as it is.
func Ensure(slack time.Duration, args, environ []string) error {
	env, godebugChanged := withSysmonAwake(environ)
	have, err := Current()
	if err != nil {
		return fmt.Errorf("reading the timer slack: %w", err)
	}
	raiseSlack := slack > have
	if !raiseSlack && !godebugChanged {
		return nil
	}
	if slices.Contains(environ, reexecMarker+"=1") {
		return fmt.Errorf("the timer slack is %v after re-executing to set %v", have, slack)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the binary to re-execute: %w", err)
	}
	runtime.LockOSThread() // the prctl and the exec must run on one thread
	defer runtime.UnlockOSThread()
	if raiseSlack {
		if err := setSlack(slack); err != nil {
			return fmt.Errorf("setting the timer slack: %w", err)
		}
	}
	err = unix.Exec(exe, args, append(slices.Clip(env), reexecMarker+"=1"))
	return errors.Join(fmt.Errorf("re-executing %s to tune sysmon: %w", exe, err), setSlack(have))
}

// Current returns the timer slack of the calling thread, which is the
// process's: a thread inherits the slack of the thread that creates it, and
// only Ensure changes it here, right before its exec. (Not from
// /proc/self/timerslack_ns: that file is the main thread's, and the kernel
// lets another thread read it only with CAP_SYS_NICE, so a process that is
// not root got EPERM from every thread but the main one, as in a container.)
func Current() (time.Duration, error) {
	ns, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		return 0, fmt.Errorf("PR_GET_TIMERSLACK: %w", err)
	}
	return time.Duration(ns), nil
}

func setSlack(d time.Duration) error {
	return unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(d.Nanoseconds()), 0, 0, 0)
}
