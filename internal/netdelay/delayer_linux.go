package netdelay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Options configure a Delayer.
type Options struct {
	Queue  uint16        // the NFQUEUE number the iptables rule sends packets to
	Delay  time.Duration // how long each packet is held
	MaxLen uint32        // packets the kernel may hold for the queue (default 65536)
}

// maxPending bounds the packets held in user space; beyond it a packet is
// accepted at once rather than delayed.
const maxPending = 1 << 16

// pending is a packet waiting for its verdict.
type pending struct {
	id  uint32
	due time.Time
}

// Run binds the queue in the calling process's network namespace and
// delays every packet sent to it until ctx is done. It then unbinds and
// accepts the packets it still holds at once.
func Run(ctx context.Context, o Options) error {
	if o.Delay < 0 {
		return fmt.Errorf("netdelay: negative delay %s", o.Delay)
	}
	if o.MaxLen == 0 {
		o.MaxLen = maxPending
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return fmt.Errorf("netdelay: netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := setup(fd); err != nil {
		return err
	}
	kernel := &unix.SockaddrNetlink{Family: unix.AF_NETLINK}
	send := func(msg []byte) error { return unix.Sendto(fd, msg, 0, kernel) }
	for _, msg := range bindMsgs(o.Queue, o.MaxLen) {
		if err := send(msg); err != nil {
			return fmt.Errorf("netdelay: configuring queue %d: %w", o.Queue, err)
		}
	}
	defer func() { _ = send(unbindMsg(o.Queue)) }()

	queue := make(chan pending, maxPending)
	flush := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		release(queue, flush, func(id uint32) { _ = send(verdictMsg(o.Queue, id)) })
	}()
	defer func() { close(flush); close(queue); wg.Wait() }()

	buf := make([]byte, 1<<16)
	for ctx.Err() == nil {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		switch {
		case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR), errors.Is(err, unix.ENOBUFS):
			continue
		case err != nil:
			return fmt.Errorf("netdelay: receiving: %w", err)
		}
		now := time.Now()
		msgs, err := parseMessages(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			switch {
			case m.typ == nlmsgError && m.errno != 0:
				return fmt.Errorf("netdelay: the kernel refused to configure queue %d: %w", o.Queue, unix.Errno(-m.errno))
			case m.typ == msgPacket && m.hasID:
				select {
				case queue <- pending{id: m.packetID, due: now.Add(o.Delay)}:
				default: // too many held: let it through now
					_ = send(verdictMsg(o.Queue, m.packetID))
				}
			}
		}
	}
	return nil
}

// setup sizes the socket's buffers, keeps it from reporting lost
// notifications as errors, times out receives so Run sees its context, and
// binds it.
func setup(fd int) error {
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_NO_ENOBUFS, 1)
	tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fmt.Errorf("netdelay: receive timeout: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netdelay: binding the netlink socket: %w", err)
	}
	return nil
}

// release accepts each packet of queue when it is due, in order; once flush
// is closed it accepts the rest at once. It returns when queue is closed.
func release(queue <-chan pending, flush <-chan struct{}, accept func(id uint32)) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for p := range queue {
		if wait := time.Until(p.due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-flush:
			}
		}
		accept(p.id)
	}
}
