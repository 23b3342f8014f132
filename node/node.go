// Package node assembles one dhtnode peer: datastore, libp2p host, kad-dht,
// routing repair, replication and the HTTP API, and owns their lifecycle.
package node

import (
	"context"
	"errors"
	"log/slog"

	"github.com/dhtnode/dhtnode/config"
)

// Node is one running dhtnode peer.
type Node struct {
	cfg    config.Config
	logger *slog.Logger
}

// New builds a node from a validated configuration. It opens the datastore and
// identity but listens on nothing until Start.
func New(cfg config.Config, logger *slog.Logger) (*Node, error) {
	return nil, errors.New("not implemented yet")
}

// Start opens the listeners (libp2p and HTTP) and starts background work.
// It returns once the node accepts connections and requests.
func (n *Node) Start(ctx context.Context) error { return errors.New("not implemented yet") }

// Close leaves the network gracefully (bounded by shutdown_timeout) and
// releases everything New and Start acquired. Safe to call more than once.
func (n *Node) Close() error { return nil }

// APIURL is the base URL of the HTTP API, e.g. http://127.0.0.1:5001.
func (n *Node) APIURL() string { return "" }

// PeerID is the node's libp2p peer ID.
func (n *Node) PeerID() string { return "" }

// ListenAddrs are the libp2p addresses the node listens on, with /p2p/<id>.
func (n *Node) ListenAddrs() []string { return nil }
