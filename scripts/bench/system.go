package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
)

// NodeSpec is where and how one node of a cluster runs.
type NodeSpec struct {
	Index     int
	Dir       string // the node's directory under -out (log, data)
	P2PPort   int
	APIPort   int
	Bootstrap string // multiaddr with /p2p/<id>; empty for node 0
}

// ListenAddr is the node's libp2p listen multiaddr.
func (s NodeSpec) ListenAddr() string { return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", s.P2PPort) }

// APIAddr is the node's HTTP API host:port.
func (s NodeSpec) APIAddr() string { return "127.0.0.1:" + strconv.Itoa(s.APIPort) }

// APIURL is the base URL of the node's HTTP API.
func (s NodeSpec) APIURL() string { return "http://" + s.APIAddr() }

// System is one implementation under test. Both speak the same HTTP
// subset; they differ only in how a node is started and how live replicas
// of a key are counted.
type System interface {
	// Name identifies the system in reports.
	Name() string
	// Command returns the command line that runs the node described by spec.
	Command(spec NodeSpec) []string
	// LiveReplicas counts the live nodes that hold key. via is a live
	// client-facing node; live lists every live node.
	LiveReplicas(ctx context.Context, c *APIClient, key string, via *Node, live []*Node) (int, error)
}

// dhtnodeSystem runs bin/dhtnode.
type dhtnodeSystem struct {
	bin   string
	extra []string // extra `dhtnode run` flags
}

func (dhtnodeSystem) Name() string { return "dhtnode" }

func (s dhtnodeSystem) Command(spec NodeSpec) []string {
	argv := []string{s.bin, "run",
		"--data-dir", filepath.Join(spec.Dir, "data"),
		"--listen", spec.ListenAddr(),
		"--api", spec.APIAddr(),
	}
	if spec.Bootstrap != "" {
		argv = append(argv, "--bootstrap", spec.Bootstrap)
	}
	return append(argv, s.extra...)
}

// LiveReplicas asks one survivor for the key's holders and counts those that
// have the record and are alive.
func (dhtnodeSystem) LiveReplicas(ctx context.Context, c *APIClient, key string, via *Node, live []*Node) (int, error) {
	r, err := c.Replicas(ctx, via.API, key)
	if err != nil {
		return 0, err
	}
	alive := make(map[string]bool, len(live))
	for _, n := range live {
		alive[n.PeerID] = true
	}
	count := 0
	for _, h := range r.Holders {
		if h.Has && alive[h.PeerID] {
			count++
		}
	}
	return count, nil
}

// baselineSystem runs the vanilla kad-dht node of scripts/bench/baseline.
type baselineSystem struct {
	bin string
}

func (baselineSystem) Name() string { return "baseline" }

func (s baselineSystem) Command(spec NodeSpec) []string {
	argv := []string{s.bin, "-listen", spec.ListenAddr(), "-api", spec.APIAddr()}
	if spec.Bootstrap != "" {
		argv = append(argv, "-bootstrap", spec.Bootstrap)
	}
	return argv
}

// LiveReplicas asks every live node whether it holds key locally.
func (baselineSystem) LiveReplicas(ctx context.Context, c *APIClient, key string, _ *Node, live []*Node) (int, error) {
	count := 0
	for _, n := range live {
		has, err := c.HasLocal(ctx, n.API, key)
		if err != nil {
			return 0, err
		}
		if has {
			count++
		}
	}
	return count, nil
}
