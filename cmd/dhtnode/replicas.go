package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) newReplicasCmd() *cobra.Command {
	var o *clientOptions
	cmd := &cobra.Command{
		Use:   "replicas KEY",
		Short: "Ask a key's holders which version of it they store",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := o.client(a).Replicas(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("replicas %q: %w", args[0], err)
			}
			if o.json {
				return printJSON(a.stdout, res)
			}
			fmt.Fprintf(a.stdout, "key %q: winning version %d\n", res.Key, res.Version)
			rows := make([]string, 0, len(res.Holders))
			for _, h := range res.Holders {
				note := "-"
				switch {
				case h.Error != "":
					note = "error: " + h.Error
				case h.Self:
					note = "this node"
				}
				rows = append(rows, fmt.Sprintf("%s\t%d\t%s\t%s", h.PeerID, h.Version, yesNo(h.Has), note))
			}
			return table(a.stdout, "PEER ID\tVERSION\tUP TO DATE\tNOTE", rows)
		},
	}
	o = addClientFlags(cmd, true)
	return cmd
}
