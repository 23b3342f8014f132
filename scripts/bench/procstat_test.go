package main

import (
	"encoding/binary"
	"os"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	// utime=1234 (field 14), stime=56 (field 15); the command name has
	// spaces and a parenthesis.
	stat := "4242 (dht node) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1234 56 0 0 20 0 12 0 100 1000000 2000 " +
		"18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	got, err := parseStatCPU([]byte(stat))
	if err != nil || got != 1290 {
		t.Fatalf("parseStatCPU = %d, %v; want 1290", got, err)
	}
	if _, err := parseStatCPU([]byte("1 (x) S 1 2")); err == nil {
		t.Fatal("short stat line: want an error")
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

func TestAuxvValue(t *testing.T) {
	var b []byte
	for _, kv := range [][2]uint64{{6, 4096}, {atClkTck, 250}, {0, 0}} {
		b = binary.LittleEndian.AppendUint64(b, kv[0])
		b = binary.LittleEndian.AppendUint64(b, kv[1])
	}
	if got := auxvValue(b, atClkTck); got != 250 {
		t.Fatalf("auxvValue = %d, want 250", got)
	}
	if got := auxvValue(b, 99); got != 0 {
		t.Fatalf("missing entry: %d, want 0", got)
	}
}

func TestProcReadersOnSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	if _, err := CPUTicks(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	m, err := MemoryOf(os.Getpid())
	if err != nil || m.RSS <= 0 || m.Private <= 0 || m.PSS <= 0 || m.PSS > m.RSS {
		t.Fatalf("MemoryOf = %+v, %v; want 0 < PSS <= RSS, Private > 0", m, err)
	}
	if hz := ClockTicks(); hz <= 0 {
		t.Fatalf("ClockTicks = %d", hz)
	}
}
