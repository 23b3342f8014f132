//go:build linux

// Command netdelay is a test tool for kernels without the netem qdisc
// (scripts/testnet.sh uses it for "netem delay"). It runs in a network
// namespace, usually a container's, entered from the host:
//
//	nsenter -t PID -n netdelay delay --queue 18 --delay 25ms
//	    hold every packet that iptables sends to NFQUEUE 18 for 25 ms, until
//	    SIGTERM or SIGINT (internal/netdelay)
//	nsenter -t PID -n netdelay rtt [--count 10] HOST:PORT
//	    connect to HOST:PORT over TCP count times and print the median and
//	    largest handshake time: one round trip each
//
// Not part of the node binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/dhtnode/dhtnode/internal/netdelay"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "netdelay:", err)
		os.Exit(1)
	}
}

const usage = "usage: netdelay delay --queue N --delay D | netdelay rtt [--count N] HOST:PORT"

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("netdelay "+args[0], flag.ContinueOnError)
	switch args[0] {
	case "delay":
		queue := fs.Uint("queue", 18, "NFQUEUE number")
		delay := fs.Duration("delay", 0, "how long to hold each packet")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *queue > 65535 || *delay <= 0 || fs.NArg() != 0 {
			return errors.New("delay needs --queue 0..65535 and a positive --delay, and no arguments")
		}
		return netdelay.Run(ctx, netdelay.Options{Queue: uint16(*queue), Delay: *delay})
	case "rtt":
		count := fs.Int("count", 10, "connections to time")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 || *count < 1 || *count > 1000 {
			return errors.New("rtt needs HOST:PORT and a --count of 1..1000")
		}
		return rtt(ctx, fs.Arg(0), *count, out)
	default:
		return errors.New(usage)
	}
}

// rtt times count TCP handshakes with addr and prints their median and
// maximum in milliseconds.
func rtt(ctx context.Context, addr string, count int, out io.Writer) error {
	var times []time.Duration
	d := net.Dialer{Timeout: 5 * time.Second}
	for range count {
		start := time.Now()
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		times = append(times, time.Since(start))
		c.Close()
	}
	slices.Sort(times)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	_, err := fmt.Fprintf(out, "rtt %s: median %.2f ms, max %.2f ms over %d connections\n", addr, ms(times[len(times)/2]), ms(times[len(times)-1]), count)
	return err
}
