package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/dhtnode/dhtnode/node"
)

func (a *app) newStatusCmd() *cobra.Command {
	var o *clientOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a node's identity, addresses, routing table, records and repair state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := o.client(a).Status(cmd.Context())
			if err != nil {
				return fmt.Errorf("status: %w", err)
			}
			if o.json {
				return printJSON(a.stdout, st)
			}
			return printStatus(a.stdout, st, time.Now())
		},
	}
	o = addClientFlags(cmd, true)
	return cmd
}

// printStatus writes the human summary of st; now dates the last sweep.
func printStatus(w io.Writer, st node.StatusResponse, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(label, format string, args ...any) { fmt.Fprintf(tw, label+":\t"+format+"\n", args...) }
	line("peer ID", "%s", st.PeerID)
	line("network", "%s", st.Network)
	line("version", "%s, up %s", st.Version, (time.Duration(st.UptimeSeconds) * time.Second).String())
	line("ready", "%s", yesNo(st.Ready))
	addrs := st.Addrs
	if len(addrs) == 0 {
		addrs = []string{"-"}
	}
	line("addresses", "%s", strings.Join(addrs, "\n\t"))
	line("connections", "%d", st.Connections)
	rt := st.RoutingTable
	buckets := 0
	for _, b := range rt.Buckets {
		if b.Peers > 0 {
			buckets++
		}
	}
	line("routing table", "%d peers in %d buckets (%d probes, %d evictions, %d re-bootstraps)",
		rt.Size, buckets, rt.Probes, rt.Evictions, rt.Rebootstraps)
	line("records", "%d (%d bytes, %d under-replicated)", st.Records.Count, st.Records.Bytes, st.Records.UnderReplicated)
	r := st.Replication
	line("replication", "factor %d, write quorum %s, read quorum %s", r.Factor, r.WriteQuorum, r.ReadQuorum)
	line("repairs", "%d", r.RepairsTotal)
	line("last sweep", "%s", ago(r.LastSweep, now))
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// ago describes time t relative to now, or "never" for nil.
func ago(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	return now.Sub(*t).Truncate(time.Second).String() + " ago"
}
