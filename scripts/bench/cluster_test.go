package main

import (
	"net"
	"strings"
	"testing"
)

func TestCheckPortsFree(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	busy := l.Addr().(*net.TCPAddr).Port
	l.Close()
	if err := checkPortsFree(busy); err != nil {
		t.Fatalf("a closed port counts as taken: %v", err)
	}
	l, err = net.Listen("tcp", l.Addr().String())
	if err != nil {
		t.Skipf("port %d was taken meanwhile: %v", busy, err)
	}
	defer l.Close()
	err = checkPortsFree(busy)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a listening port counts as free: %v", err)
	}
}
