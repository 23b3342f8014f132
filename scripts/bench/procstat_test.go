package main

import (
	"os"
	"testing"
	"time"
)

func TestParseSchedstat(t *testing.T) {
	got, err := parseSchedstat([]byte("52933221 21199263 203\n"))
	if want := (SchedStat{CPU: 52933221 * time.Nanosecond, Slices: 203}); err != nil || got != want {
		t.Fatalf("parseSchedstat = %+v, %v; want %+v", got, err, want)
	}
	for _, bad := range []string{"", "1 2", "x 2 3", "1 2 x", "1 2 -3", "1 2 3 4"} {
		if _, err := parseSchedstat([]byte(bad)); err == nil {
			t.Errorf("parseSchedstat(%q): want an error", bad)
		}
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tdhtnode\nVmPeak:\t  900 kB\nVmRSS:\t   38912 kB\nRssAnon:\t    9216 kB\nThreads:\t12\n"
	got, err := parseStatusKB([]byte(status), "VmRSS")
	if err != nil || got != 38912*1024 {
		t.Fatalf("parseStatusKB(VmRSS) = %d, %v", got, err)
	}
	if anon, err := parseStatusKB([]byte(status), "RssAnon"); err != nil || anon != 9216*1024 {
		t.Fatalf("parseStatusKB(RssAnon) = %d, %v", anon, err)
	}
	if _, err := parseStatusKB([]byte("Name:\tx\n"), "VmRSS"); err == nil {
		t.Fatal("no VmRSS line: want an error")
	}
}

func TestParseMinorFaults(t *testing.T) {
	stat := "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 1234 0 5 0 10 3 0 0 20 0 9 0 100 0 0\n"
	if got, err := parseMinorFaults([]byte(stat)); err != nil || got != 1234 {
		t.Fatalf("parseMinorFaults = %d, %v; want 1234", got, err)
	}
	for _, bad := range []string{"", "1 (x) S 1 2", "1 (x) S 1 2 3 4 5 6 x 8"} {
		if _, err := parseMinorFaults([]byte(bad)); err == nil {
			t.Errorf("parseMinorFaults(%q): want an error", bad)
		}
	}
}

func TestProcReadersOnSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if st, err := SchedStatOf(os.Getpid()); err != nil || st.CPU <= 0 || st.Slices == 0 {
		t.Fatalf("SchedStatOf = %+v, %v; want CPU and slices > 0", st, err)
	}
	if n, err := MinorFaults(os.Getpid()); err != nil || n == 0 {
		t.Fatalf("MinorFaults = %d, %v; want > 0", n, err)
	}
	m, err := MemoryOf(os.Getpid())
	if err != nil || m.RSS <= 0 || m.Private <= 0 || m.PSS <= 0 || m.PSS > m.RSS {
		t.Fatalf("MemoryOf = %+v, %v; want 0 < PSS <= RSS, Private > 0", m, err)
	}
}
