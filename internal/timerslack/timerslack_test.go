package timerslack

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// helperEnv makes the test binary act as a daemon that calls Ensure: see
// TestMain and TestEnsureReexecutesWithTheSlack.
const helperEnv = "TIMERSLACK_TEST_HELPER"

func TestMain(m *testing.M) {
	if want := os.Getenv(helperEnv); want != "" {
		os.Exit(helper(want))
	}
	os.Exit(m.Run())
}

// helper calls Ensure with want and prints the slack of every thread of the
// process afterwards, one per line.
func helper(want string) int {
	d, err := Parse(want)
	if err != nil {
		fmt.Println(err)
		return 2
	}
	if err := Ensure(d, os.Args, os.Environ()); err != nil {
		fmt.Println(err)
		return 1
	}
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

func runHelper(t *testing.T, want string) (slacks []string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+want)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

func TestEnsureReexecutesWithTheSlack(t *testing.T) {
	inherited, err := Current()
	if err != nil {
		t.Skipf("no timer slack here: %v", err)
	}
	want := 2 * time.Millisecond
	if inherited == want {
		want = 3 * time.Millisecond
	}
	slacks := runHelper(t, want.String())
	for i, s := range slacks {
		if s != strconv.FormatInt(want.Nanoseconds(), 10) {
			t.Errorf("thread %d of %d has slack %s ns, want %d (all: %v)", i, len(slacks), s, want.Nanoseconds(), slacks)
		}
	}
	if len(slacks) < 2 { // the main thread and sysmon at least
		t.Errorf("only %d threads seen", len(slacks))
	}

	// "0", or less than the inherited slack, leaves it alone.
	keep := []string{"0"}
	if inherited > time.Microsecond {
		keep = append(keep, (inherited - time.Microsecond).String())
	}
	for _, setting := range keep {
		for _, s := range runHelper(t, setting) {
			if s != strconv.FormatInt(inherited.Nanoseconds(), 10) {
				t.Errorf("with %s=%s a thread has slack %s ns, want the inherited %d", Env, setting, s, inherited.Nanoseconds())
			}
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"", Default, ""},
		{"0", 0, ""},
		{" 200us ", 200 * time.Microsecond, ""},
		{"2ms", 2 * time.Millisecond, ""},
		{"100ms", 100 * time.Millisecond, ""},
		{"101ms", 0, "between 0 and 100ms"},
		{"-1ms", 0, "between 0 and 100ms"},
		{"1", 0, "want a duration"},
		{"fast", 0, "want a duration"},
	} {
		got, err := Parse(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Parse(%q) error = %v, want one containing %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		case err != nil && !strings.Contains(err.Error(), Env):
			t.Errorf("Parse(%q) error %q does not name %s", tc.in, err, Env)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "0", "1ms", "250us", "1h", "-5s", "1e3ms", "0x10", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err == nil && (d < 0 || d > maxSlack) {
			t.Fatalf("Parse(%q) = %v, outside [0, %v]", s, d, maxSlack)
		}
	})
}
