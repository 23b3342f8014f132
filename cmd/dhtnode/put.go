package main

import (
	"context"
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
	identity  string
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
			res, err := o.write(cmd.Context(), a, args[0], value, opts)
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
	f.StringVar(&o.identity, "identity", "", "sign the record here with this key file (dhtnode keygen) instead of by the node")
	f.Uint64Var(&o.ifVersion, "if-version", 0, "write only if the key's current version is this one (0 = the key must not exist)")
	return cmd
}

// write puts value through the node, signed by the node or, with
// --identity, signed here (signedWrite).
func (o *putOptions) write(ctx context.Context, a *app, key string, value []byte, opts node.PutOptions) (node.PutResponse, error) {
	if o.identity == "" {
		return o.client(a).Put(ctx, key, value, opts)
	}
	priv, err := loadSigningKey(o.identity)
	if err != nil {
		return node.PutResponse{}, err
	}
	opts.TTL = 0 // signed into the record instead
	return signedWrite(ctx, o.client(a), priv, key, value, false, o.ttl, opts)
}
