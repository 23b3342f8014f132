package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// killWait bounds how long Kill waits for a killed process to be reaped.
const killWait = 10 * time.Second

// Process is one node process started by a ProcessGroup.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
	err  error         // exit status; valid after done is closed
	log  *os.File
}

// Pid returns the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has exited, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// ProcessGroup starts node processes and makes sure none outlives the
// benchmark: each runs in its own process group (so Kill reaches its
// children too) with Pdeathsig=SIGKILL (so it dies with the harness even if
// the harness is killed), and KillAll ends whatever is still running.
type ProcessGroup struct {
	mu    sync.Mutex
	procs []*Process
}

// Start runs argv with stdout and stderr appended to logPath.
func (g *ProcessGroup) Start(argv []string, logPath string) (*Process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	p := &Process{cmd: cmd, done: make(chan struct{}), log: log}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	return p, nil
}

// Kill sends SIGKILL to p's process group and waits (bounded) until it is
// reaped.
func (g *ProcessGroup) Kill(p *Process) error {
	if exited, _ := p.Exited(); exited {
		return nil
	}
	if err := syscall.Kill(-p.Pid(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %d: %w", p.Pid(), err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("process %d not reaped %s after SIGKILL", p.Pid(), killWait)
	}
}

// KillAll kills every process this group started that is still running and
// forgets them. It is safe to call more than once.
func (g *ProcessGroup) KillAll() error {
	g.mu.Lock()
	procs := g.procs
	g.procs = nil
	g.mu.Unlock()
	var errs []error
	for _, p := range procs {
		if exited, _ := p.Exited(); !exited {
			_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		}
	}
	for _, p := range procs {
		errs = append(errs, g.Kill(p))
	}
	return errors.Join(errs...)
}
