package node

import (
	"context"
	"time"

	"github.com/dhtnode/dhtnode/config"
)

// shutdownTimeout is the budget of the graceful hand-off; a configuration
// that names none (one built in code rather than loaded) gets the default.
func (n *Node) shutdownTimeout() time.Duration {
	if n.cfg.ShutdownTimeout > 0 {
		return n.cfg.ShutdownTimeout
	}
	return config.DefaultShutdownTimeout
}

// handOff gives every local record to the peers that hold it once this node
// is gone, within shutdown_timeout of its own (the API has been stopped
// first, on a separate budget), and logs what was and was not handed off.
func (n *Node) handOff() {
	if n.dht.RoutingTable().Size() == 0 {
		if records := n.repl.Stats().Records; records > 0 {
			n.logger.Warn("graceful leave: no peers to hand records to", "records", records)
		}
		return
	}
	timeout := n.shutdownTimeout()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	res := n.repl.Leave(ctx)
	took := time.Since(start).Round(time.Millisecond)
	left := res.Records - res.HandedOff
	if left == 0 {
		n.logger.Info("graceful leave: records handed off", "records", res.Records, "handed_off", res.HandedOff, "took", took)
		return
	}
	reason := "some holders did not take them"
	if ctx.Err() != nil {
		reason = "shutdown_timeout ran out"
	}
	n.logger.Warn("graceful leave: records not handed to every holder", "records", res.Records, "handed_off", res.HandedOff,
		"not_handed_off", left, "reason", reason, "timeout", timeout, "took", took)
}
