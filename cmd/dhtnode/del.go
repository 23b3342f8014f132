package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dhtnode/dhtnode/node"
)

func (a *app) newDelCmd() *cobra.Command {
	var o *clientOptions
	var identity string
	cmd := &cobra.Command{
		Use:     "del KEY",
		Aliases: []string{"delete"},
		Short:   "Delete a key (writes a tombstone)",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var res node.DeleteResponse
			var err error
			if identity != "" {
				priv, kerr := loadSigningKey(identity)
				if kerr != nil {
					return kerr
				}
				var put node.PutResponse
				put, err = signedWrite(cmd.Context(), o.client(a), priv, args[0], nil, true, 0, node.PutOptions{})
				res = node.DeleteResponse{Key: put.Key, Version: put.Version, Acks: put.Acks}
			} else {
				res, err = o.client(a).Delete(cmd.Context(), args[0])
			}
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
	cmd.Flags().StringVar(&identity, "identity", "", "sign the tombstone here with this key file (dhtnode keygen) instead of by the node")
	return cmd
}
