package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/dhtnode/dhtnode/node"
)

// maxStdinValue bounds what put reads from stdin: more than any node accepts
// (max_value_size is at most 1 MiB), so the node reports the size error.
const maxStdinValue = 1<<20 + 1

type putOptions struct {
	*clientOptions
	ttl       time.Duration
	w         int
	ifVersion uint64
}

func (a *app) newPutCmd() *cobra.Command {
	o := &putOptions{}
	cmd := &cobra.Command{
		Use:   "put KEY [VALUE]",
		Short: "Write a value (read from stdin when VALUE is omitted or -)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var value []byte
			if len(args) == 2 && args[1] != "-" {
				value = []byte(args[1])
			} else {
				var err error
				if value, err = io.ReadAll(io.LimitReader(a.stdin, maxStdinValue)); err != nil {
					return fmt.Errorf("read value from stdin: %w", err)
				}
			}
			opts := node.PutOptions{TTL: o.ttl, W: o.w}
			if cmd.Flags().Changed("if-version") {
				opts.IfVersion = &o.ifVersion
			}
			res, err := o.client(a).Put(cmd.Context(), args[0], value, opts)
			if err != nil {
				return fmt.Errorf("put %q: %w", args[0], err)
			}
			if o.json {
				return printJSON(a.stdout, res)
			}
			_, err = fmt.Fprintf(a.stdout, "version %d (acks %d/%d)\n", res.Version, res.Acks, res.Replicas)
			return err
		},
	}
	o.clientOptions = addClientFlags(cmd, true)
	f := cmd.Flags()
	f.DurationVar(&o.ttl, "ttl", 0, "expire the value after this long, e.g. 90s or 24h (default never)")
	f.IntVar(&o.w, "w", 0, "write quorum for this write: holder acks needed (default the node's replication.write_quorum)")
	f.Uint64Var(&o.ifVersion, "if-version", 0, "write only if the key's current version is this one (0 = the key must not exist)")
	return cmd
}
