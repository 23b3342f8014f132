package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

// dhtnode watch prints the key's state, then each new version, until
// interrupted; a node it cannot reach at all is an error.
func TestWatchCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node network")
	}
	c := testnet.New(t, 3, nil)
	put := func(value string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := c.Client(0).Put(ctx, "topic", []byte(value), node.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put("first")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"watch", "--api", c.Node(1).APIURL(), "topic"}, strings.NewReader(""), &stdout, &stderr, nil)
	}()
	waitOutput := func(want string) {
		t.Helper()
		if !testnet.Eventually(10*time.Second, func() bool { return stdout.String() == want }) {
			t.Fatalf("watch printed %q, want %q (stderr %q)", stdout.String(), want, stderr.String())
		}
	}
	waitOutput("version 1: first\n")
	put("second")
	waitOutput("version 1: first\nversion 2: second\n")
	cancel()
	if got := <-code; got != exitOK {
		t.Fatalf("watch exited %d after an interrupt (stderr %q)", got, stderr.String())
	}

	res := dhtnode(t, "watch", "--api", "http://127.0.0.1:1", "topic")
	if res.code != exitFailed || !strings.Contains(res.stderr, "unreachable") {
		t.Fatalf("watch of an unreachable node: %+v", res)
	}
}
