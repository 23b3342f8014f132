package node

import (
	"fmt"
	"net"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// checkTCPPortsFree fails when another process listens on one of the TCP
// listen addresses. libp2p's TCP transport binds with SO_REUSEPORT, so a
// second node on a taken port would share it with the first and get half
// of its connections; a plain bind (Go's net.Listen, no SO_REUSEPORT) is
// refused by the kernel in that case, and is released again at once.
func checkTCPPortsFree(addrs []ma.Multiaddr) error {
	for _, a := range addrs {
		port, err := a.ValueForProtocol(ma.P_TCP)
		if err != nil || port == "0" {
			continue // not TCP, or any free port
		}
		network, hostport, err := manet.DialArgs(a)
		if err != nil {
			return fmt.Errorf("listen %s: %w", a, err)
		}
		ln, err := net.Listen(network, hostport)
		if err != nil {
			return fmt.Errorf("listen %s: TCP port %s is taken by another process: %w", a, port, err)
		}
		if err := ln.Close(); err != nil {
			return fmt.Errorf("listen %s: %w", a, err)
		}
	}
	return nil
}
