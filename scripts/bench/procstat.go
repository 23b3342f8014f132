package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Linux /proc readers for the per-node CPU and memory figures.

// atClkTck is the auxv entry type of the clock-tick rate (AT_CLKTCK).
const atClkTck = 17

// defaultClkTck is USER_HZ on every mainstream Linux build.
const defaultClkTck = 100

// ClockTicks returns the kernel's clock-tick rate (USER_HZ), the unit of
// utime and stime in /proc/<pid>/stat, read from this process's auxiliary
// vector; it falls back to 100.
func ClockTicks() int64 {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return defaultClkTck
	}
	if v := auxvValue(b, atClkTck); v > 0 {
		return int64(v)
	}
	return defaultClkTck
}

// auxvValue returns the value of entry typ in a 64-bit little-endian auxv
// dump, or 0 when absent.
func auxvValue(b []byte, typ uint64) uint64 {
	for len(b) >= 16 {
		k, v := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
		if k == typ {
			return v
		}
		if k == 0 {
			break
		}
		b = b[16:]
	}
	return 0
}

// CPUTicks returns utime+stime of process pid in clock ticks.
func CPUTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU extracts utime+stime (fields 14 and 15) from the contents
// of /proc/<pid>/stat. The command name (field 2) is in parentheses and may
// contain spaces, so fields are counted after the last ')'.
func parseStatCPU(b []byte) (int64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat: no command name")
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state), so field n is fields[n-3].
	if len(fields) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the command name", len(fields))
	}
	utime, err := strconv.ParseInt(fields[14-3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat utime: %w", err)
	}
	stime, err := strconv.ParseInt(fields[15-3], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat stime: %w", err)
	}
	return utime + stime, nil
}

// Memory is one process's resident memory, in bytes.
type Memory struct {
	RSS     int64 // VmRSS: every resident page, shared or not
	Private int64 // RssAnon: the process's own pages (heap, stacks)
	// PSS counts each resident page divided by the number of processes
	// mapping it, so the executable's pages, shared by every node running
	// the same binary, count once across them: the node's fair share.
	PSS int64
}

// MemoryOf reads the resident memory of process pid.
func MemoryOf(pid int) (Memory, error) {
	var m Memory
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, err
	}
	if m.RSS, err = parseStatusKB(b, "VmRSS"); err != nil {
		return m, err
	}
	if m.Private, err = parseStatusKB(b, "RssAnon"); err != nil {
		return m, err
	}
	if b, err = os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err != nil {
		return m, err
	}
	m.PSS, err = parseStatusKB(b, "Pss")
	return m, err
}

// parseStatusKB extracts a "Field:  N kB" line of /proc/<pid>/status or
// smaps_rollup, in bytes.
func parseStatusKB(b []byte, field string) (int64, error) {
	for line := range strings.SplitSeq(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("status: unexpected %s line %q", field, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status %s: %w", field, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("status: no %s line", field)
}
