package sysmon

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a daemon that calls Ensure: see
// TestMain and TestEnsureReexecutesTuned.
const helperEnv = "SYSMON_TEST_HELPER"

// currentEnv makes the test binary check Current on many threads and exit.
const currentEnv = "SYSMON_TEST_CURRENT"

func TestMain(m *testing.M) {
	if want := os.Getenv(helperEnv); want != "" {
		os.Exit(helper(want))
	}
	if os.Getenv(currentEnv) != "" {
		if err := currentOnThreads(); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helper calls Ensure with the slack want and prints the process's GODEBUG,
// then the slack of every thread of the process, one per line.
func helper(want string) int {
	d, err := ParseSlack(want)
	if err != nil {
		fmt.Println(err)
		return 2
	}
	if err := Ensure(d, os.Args, os.Environ()); err != nil {
		fmt.Println(err)
		return 1
	}
	fmt.Printf("GODEBUG=%s\n", os.Getenv("GODEBUG"))
	tasks, _ := filepath.Glob("/proc/self/task/*")
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc", filepath.Base(t), "timerslack_ns"))
		if err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Print(string(b))
	}
	return 0
}

// runHelper runs the helper with the slack setting want and GODEBUG set to
// godebug, and returns the GODEBUG it ran with and its threads' slacks.
func runHelper(t *testing.T, want, godebug string) (gotGodebug string, slacks []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") }),
		helperEnv+"="+want, "GODEBUG="+godebug)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "GODEBUG=") {
		t.Fatalf("helper printed %q", out)
	}
	return strings.TrimPrefix(lines[0], "GODEBUG="), lines[1:]
}

func TestEnsureReexecutesTuned(t *testing.T) {
	inherited, err := Current()
	if err != nil {
		t.Skipf("no timer slack here: %v", err)
	}
	want := 2 * time.Millisecond
	if inherited == want {
		want = 3 * time.Millisecond
	}
	godebug, slacks := runHelper(t, want.String(), "madvdontneed=1")
	if godebug != "madvdontneed=1,"+keepAwake {
		t.Errorf("GODEBUG after Ensure = %q, want the user's setting and %s", godebug, keepAwake)
	}
	for i, s := range slacks {
		if s != strconv.FormatInt(want.Nanoseconds(), 10) {
			t.Errorf("thread %d of %d has slack %s ns, want %d (all: %v)", i, len(slacks), s, want.Nanoseconds(), slacks)
		}
	}
	if len(slacks) < 2 { // the main thread and sysmon at least
		t.Errorf("only %d threads seen", len(slacks))
	}

	// "0", or less than the inherited slack, leaves the slack alone; sysmon
	// is still kept awake.
	keep := []string{"0"}
	if inherited > time.Microsecond {
		keep = append(keep, (inherited - time.Microsecond).String())
	}
	for _, setting := range keep {
		godebug, slacks := runHelper(t, setting, "")
		if godebug != keepAwake {
			t.Errorf("with %s=%s GODEBUG = %q, want %q", SlackEnv, setting, godebug, keepAwake)
		}
		for _, s := range slacks {
			if s != strconv.FormatInt(inherited.Nanoseconds(), 10) {
				t.Errorf("with %s=%s a thread has slack %s ns, want the inherited %d", SlackEnv, setting, s, inherited.Nanoseconds())
			}
		}
	}

	// A schedtrace the user set is kept, and with nothing else to do
	// Ensure returns without re-executing.
	if godebug, _ := runHelper(t, "0", "schedtrace=0"); godebug != "schedtrace=0" {
		t.Errorf("GODEBUG = %q, want the user's schedtrace=0 kept", godebug)
	}
}

func TestWithSysmonAwake(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    []string
		changed bool
	}{
		{nil, []string{"GODEBUG=" + keepAwake}, true},
		{[]string{"HOME=/h"}, []string{"HOME=/h", "GODEBUG=" + keepAwake}, true},
		{[]string{"GODEBUG="}, []string{"GODEBUG=" + keepAwake}, true},
		{[]string{"GODEBUG=gctrace=1"}, []string{"GODEBUG=gctrace=1," + keepAwake}, true},
		{[]string{"GODEBUG=schedtrace=0"}, []string{"GODEBUG=schedtrace=0"}, false},
		{[]string{"GODEBUG=gctrace=1, schedtrace=1000"}, []string{"GODEBUG=gctrace=1, schedtrace=1000"}, false},
		{[]string{"GODEBUG=schedtraceX=1"}, []string{"GODEBUG=schedtraceX=1," + keepAwake}, true},
		// the runtime reads the first GODEBUG of the environment
		{[]string{"GODEBUG=a=1", "GODEBUG=schedtrace=0"}, []string{"GODEBUG=a=1," + keepAwake, "GODEBUG=schedtrace=0"}, true},
	} {
		in := slices.Clone(tc.in)
		got, changed := withSysmonAwake(in)
		if !slices.Equal(got, tc.want) || changed != tc.changed {
			t.Errorf("withSysmonAwake(%q) = %q, %v; want %q, %v", tc.in, got, changed, tc.want, tc.changed)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("withSysmonAwake(%q) changed its argument to %q", tc.in, in)
		}
	}
}

func TestParseSlack(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"", DefaultSlack, ""},
		{"0", 0, ""},
		{" 200us ", 200 * time.Microsecond, ""},
		{"2ms", 2 * time.Millisecond, ""},
		{"100ms", 100 * time.Millisecond, ""},
		{"101ms", 0, "between 0 and 100ms"},
		{"-1ms", 0, "between 0 and 100ms"},
		{"1", 0, "want a duration"},
		{"fast", 0, "want a duration"},
	} {
		got, err := ParseSlack(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseSlack(%q) error = %v, want one containing %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("ParseSlack(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		case err != nil && !strings.Contains(err.Error(), SlackEnv):
			t.Errorf("ParseSlack(%q) error %q does not name %s", tc.in, err, SlackEnv)
		}
	}
}

func FuzzParseSlack(f *testing.F) {
	for _, s := range []string{"", "0", "1ms", "250us", "1h", "-5s", "1e3ms", "0x10", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseSlack(s)
		if err == nil && (d < 0 || d > maxSlack) {
			t.Fatalf("ParseSlack(%q) = %v, outside [0, %v]", s, d, maxSlack)
		}
	})
}

// FuzzWithSysmonAwake: whatever GODEBUG holds, the result keeps every other
// variable, sets schedtrace exactly once unless the user did, and is stable.
func FuzzWithSysmonAwake(f *testing.F) {
	for _, s := range []string{"", "gctrace=1", "schedtrace=0", ",,", "a=1,schedtrace", "=x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, godebug string) {
		in := []string{"A=1", "GODEBUG=" + godebug, "B=2"}
		got, changed := withSysmonAwake(in)
		if len(got) != 3 || got[0] != "A=1" || got[2] != "B=2" {
			t.Fatalf("withSysmonAwake(%q) = %q: other variables changed", in, got)
		}
		if changed == (got[1] == in[1]) || (changed && !strings.HasSuffix(got[1], keepAwake)) {
			t.Fatalf("withSysmonAwake(%q) = %q, %v", in, got, changed)
		}
		if again, changedAgain := withSysmonAwake(got); changedAgain || !slices.Equal(again, got) {
			t.Fatalf("not stable: %q then %q", got, again)
		}
	})
}

// Current answers on every thread and gives the calling thread's slack,
// which is every thread's.
func TestCurrentOnAnyThread(t *testing.T) {
	if err := currentOnThreads(); err != nil {
		t.Fatal(err)
	}
}

// The same as a user without CAP_SYS_NICE, as in a container (when the
// tests run as root): reading the main thread's slack from another thread
// failed there with EPERM, and every node logged a warning.
func TestCurrentOnAnyThreadNotRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("runs the check as another user, which needs root; TestCurrentOnAnyThread covers this user")
	}
	dir, err := os.MkdirTemp("", "sysmon-") // t.TempDir's parent is private to root
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "sysmon.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), currentEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("as uid 65534: %v\n%s", err, out)
	}
}

// currentOnThreads calls Current on threads of their own and compares it
// with each thread's own slack.
func currentOnThreads() error {
	errs := make(chan error, 8)
	for range cap(errs) {
		go func() {
			runtime.LockOSThread() // a thread of its own, often not the main one
			defer runtime.UnlockOSThread()
			got, err := Current()
			if err != nil {
				errs <- err
				return
			}
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/timerslack_ns", syscall.Gettid())) // its own: no capability needed
			if err != nil {
				errs <- err
				return
			}
			if want := strings.TrimSpace(string(b)); strconv.FormatInt(got.Nanoseconds(), 10) != want {
				errs <- fmt.Errorf("Current() = %d ns, the thread's slack is %s ns", got.Nanoseconds(), want)
				return
			}
			errs <- nil
		}()
	}
	var all []error
	for range cap(errs) {
		if err := <-errs; err != nil {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}
