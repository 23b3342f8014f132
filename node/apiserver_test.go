package node_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

// startNode starts one node with testnet's local configuration, adjusted by
// configure, and closes it when the test ends.
func startNode(t *testing.T, dir string, i int, configure func(cfg *config.Config)) *node.Node {
	t.Helper()
	cfg := testnet.Local(dir, i)
	if configure != nil {
		configure(&cfg)
	}
	n, err := node.New(cfg, testnet.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return n
}

// dialAPI opens a raw TCP connection to a node's API.
func dialAPI(t *testing.T, n *node.Node) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(n.APIURL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// slowBody starts a PUT on conn whose 1,000-byte body it sends one byte
// every 100 ms (100 s in all), until the server closes conn or the test
// ends. It returns the count of body bytes sent.
func slowBody(t *testing.T, conn net.Conn) *atomic.Int64 {
	t.Helper()
	if _, err := io.WriteString(conn, "PUT /v1/values/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent atomic.Int64
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte("x")); err != nil {
					return
				}
				sent.Add(1)
			}
		}
	})
	t.Cleanup(func() { close(stop); wg.Wait() })
	return &sent
}

// closedWithin reads conn until the server closes it and reports how long
// that took; it fails the test if the server keeps it open past limit.
func closedWithin(t *testing.T, conn net.Conn, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if err := conn.SetReadDeadline(start.Add(limit)); err != nil {
		t.Fatal(err)
	}
	_, err := io.Copy(io.Discard, conn)
	took := time.Since(start)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("server kept the connection open for %s", limit)
	}
	return took
}

// A client that trickles a request body is cut off after api.read_timeout;
// without it the connection stayed open as long as the client kept sending.
func TestAPISlowBodyIsCutOff(t *testing.T) {
	n := startNode(t, t.TempDir(), 0, func(cfg *config.Config) { cfg.API.ReadTimeout = time.Second })
	conn := dialAPI(t, n)
	slowBody(t, conn)
	took := closedWithin(t, conn, 15*time.Second)
	t.Logf("slow body cut off after %s", took)
}

// An idle keep-alive connection is closed after api.idle_timeout.
func TestAPIIdleConnectionIsClosed(t *testing.T) {
	n := startNode(t, t.TempDir(), 0, func(cfg *config.Config) { cfg.API.IdleTimeout = 500 * time.Millisecond })
	conn := dialAPI(t, n)
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("healthz: %d, close %v: want a kept-alive 200", resp.StatusCode, resp.Close)
	}
	took := closedWithin(t, conn, 10*time.Second)
	t.Logf("idle connection closed after %s", took)
}

// Connections over api.max_connections wait unaccepted, holding none of the
// node's file descriptors, and the node still accepts libp2p peers.
func TestAPIConnectionLimitSparesLibp2p(t *testing.T) {
	const limit, extra = 4, 200
	dir := t.TempDir()
	n := startNode(t, dir, 0, func(cfg *config.Config) { cfg.API.MaxConnections = limit })

	// limit kept-alive connections fill the API.
	held := make([]net.Conn, limit)
	for i := range held {
		held[i] = dialAPI(t, n)
		if _, err := io.WriteString(held[i], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(held[i]), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	fdsBefore := openFDs(t)
	waiting := make([]net.Conn, extra)
	for i := range waiting {
		waiting[i] = dialAPI(t, n) // the kernel completes the handshake; the node does not accept
	}
	// Each client connection is one descriptor of this process; each one
	// the node accepted would be a second.
	if grown := openFDs(t) - fdsBefore; grown > extra+limit {
		t.Fatalf("%d API connections over the limit took %d descriptors: the node accepted them", extra, grown)
	}

	// A new peer joins the node while its API is full.
	peer1 := startNode(t, dir, 1, func(cfg *config.Config) {
		cfg.Bootstrap = []peer.AddrInfo{{ID: n.PeerID(), Addrs: n.Host().Addrs()}}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !n.Ready() || !peer1.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("a peer could not join a node whose API connections were all taken")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A waiting connection is served once a slot frees up.
	if _, err := io.WriteString(waiting[0], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	held[0].Close()
	if err := waiting[0].SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(waiting[0]), nil)
	if err != nil {
		t.Fatalf("a waiting connection was not served after a slot freed: %v", err)
	}
	resp.Body.Close()
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(entries)
}

// Close before Start releases the API port.
func TestCloseBeforeStartFreesAPIPort(t *testing.T) {
	cfg := testnet.Local(t.TempDir(), 0)
	n, err := node.New(cfg, testnet.Logger())
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(n.APIURL(), "http://")
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("API port still taken after Close without Start: %v", err)
	}
	ln.Close()
}
