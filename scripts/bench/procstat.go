package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// Linux /proc readers for the per-node CPU and memory figures.

// SchedStat is what the kernel's scheduler counted for a process: the sum
// over its threads of /proc/<pid>/task/*/schedstat.
type SchedStat struct {
	// CPU is the run time, kept in nanoseconds (utime and stime in
	// /proc/<pid>/stat are in 10 ms ticks, too coarse when 50 processes each
	// spend a few ms on a workload round).
	CPU time.Duration
	// Slices is how many times a thread was put on a CPU: each wake-up of a
	// thread (a message, a timer, the Go runtime's monitor) is one.
	Slices uint64
}

// add counts o into s.
func (s *SchedStat) add(o SchedStat) {
	s.CPU += o.CPU
	s.Slices += o.Slices
}

// SchedStatOf returns process pid's SchedStat. A thread that exits takes its
// counts with it; Go runtimes keep their threads, so the loss is nil for the
// nodes measured here.
func SchedStatOf(pid int) (SchedStat, error) {
	var total SchedStat
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return total, err
	}
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // the thread exited since the listing
		}
		if err != nil {
			return total, err
		}
		st, err := parseSchedstat(b)
		if err != nil {
			return total, fmt.Errorf("task %s: %w", t.Name(), err)
		}
		total.add(st)
	}
	return total, nil
}

// parseSchedstat reads a /proc/<pid>/task/<tid>/schedstat line: run time
// in ns, time spent waiting for a CPU, and the number of time slices.
func parseSchedstat(b []byte) (SchedStat, error) {
	f := strings.Fields(string(b))
	if len(f) != 3 {
		return SchedStat{}, fmt.Errorf("schedstat: %d fields, want 3", len(f))
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return SchedStat{}, fmt.Errorf("schedstat run time: %w", err)
	}
	slices, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return SchedStat{}, fmt.Errorf("schedstat time slices: %w", err)
	}
	return SchedStat{CPU: time.Duration(ns), Slices: slices}, nil
}

// MinorFaults returns how many minor page faults process pid has taken
// (field 10 of /proc/<pid>/stat): pages it touched for the first time, or
// again after the Go runtime returned them to the kernel.
func MinorFaults(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseMinorFaults(b)
}

// parseMinorFaults extracts minflt from a /proc/<pid>/stat line. The fields
// are counted after the command name's closing parenthesis, since the name
// may itself contain spaces and parentheses.
func parseMinorFaults(b []byte) (uint64, error) {
	s := string(b)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0, errors.New("stat: no command name")
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 8 {
		return 0, fmt.Errorf("stat: %d fields after the name, want at least 8", len(f))
	}
	n, err := strconv.ParseUint(f[7], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat minflt: %w", err)
	}
	return n, nil
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
