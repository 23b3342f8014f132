package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) newGetCmd() *cobra.Command {
	var r int
	var o *clientOptions
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Read a value and write it, raw, to stdout",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			value, _, err := o.client(a).Get(cmd.Context(), args[0], r)
			if err != nil {
				return fmt.Errorf("get %q: %w", args[0], err)
			}
			_, err = a.stdout.Write(value)
			return err
		},
	}
	o = addClientFlags(cmd, false)
	cmd.Flags().IntVar(&r, "r", 0, "read quorum for this read: holder answers to wait for (default the node's replication.read_quorum)")
	return cmd
}
