package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) newPeersCmd() *cobra.Command {
	var o *clientOptions
	cmd := &cobra.Command{
		Use:   "peers",
		Short: "List a node's routing-table peers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			peers, err := o.client(a).Peers(cmd.Context())
			if err != nil {
				return fmt.Errorf("peers: %w", err)
			}
			if o.json {
				return printJSON(a.stdout, peers)
			}
			now := time.Now()
			rows := make([]string, 0, len(peers))
			for _, p := range peers {
				rtt := "-"
				if p.RTTMillis > 0 {
					rtt = strconv.FormatFloat(p.RTTMillis, 'f', 1, 64) + "ms"
				}
				rows = append(rows, fmt.Sprintf("%s\t%d\t%s\t%s\t%s", p.PeerID, p.Bucket, yesNo(p.Connected), rtt, ago(p.LastSeen, now)))
			}
			return table(a.stdout, "PEER ID\tBUCKET\tCONNECTED\tRTT\tLAST SEEN", rows)
		},
	}
	o = addClientFlags(cmd, true)
	return cmd
}
