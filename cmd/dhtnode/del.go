package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) newDelCmd() *cobra.Command {
	var o *clientOptions
	cmd := &cobra.Command{
		Use:     "del KEY",
		Aliases: []string{"delete"},
		Short:   "Delete a key (writes a tombstone)",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := o.client(a).Delete(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("del %q: %w", args[0], err)
			}
			if o.json {
				return printJSON(a.stdout, res)
			}
			_, err = fmt.Fprintf(a.stdout, "deleted, version %d (acks %d)\n", res.Version, res.Acks)
			return err
		},
	}
	o = addClientFlags(cmd, true)
	return cmd
}
