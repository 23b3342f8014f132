package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/dhtnode/dhtnode/node"
)

// watchReconnect is how long watch waits before it reconnects a stream
// that ended.
const watchReconnect = time.Second

func (a *app) newWatchCmd() *cobra.Command {
	var o *clientOptions
	cmd := &cobra.Command{
		Use:   "watch KEY",
		Short: "Print the key's current state, then each new version as it arrives",
		Long: `watch streams GET /v1/watch/KEY: first the key's current state, then one
line per new version: "version N: VALUE", "version N: deleted", "version N:
expired", or "absent" when no holder has the key. With --json, one JSON
object per event. When the stream breaks, watch reconnects and resumes
after the last version it printed; it runs until interrupted.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.watch(cmd.Context(), o, args[0])
		},
	}
	o = addClientFlags(cmd, true)
	return cmd
}

// watch prints events until ctx ends; a broken stream is resumed.
func (a *app) watch(ctx context.Context, o *clientOptions, key string) error {
	c := o.client(a)
	var have *uint64
	connected := false
	print := func(ev node.WatchEvent) error {
		connected = true
		v := ev.Version
		have = &v
		if o.json {
			return json.NewEncoder(a.stdout).Encode(ev) // one object per line
		}
		var err error
		switch {
		case ev.Event == node.WatchEventValue && ev.Value != nil:
			_, err = fmt.Fprintf(a.stdout, "version %d: %s\n", v, *ev.Value)
		case ev.Version == 0:
			_, err = fmt.Fprintln(a.stdout, "absent")
		default:
			_, err = fmt.Fprintf(a.stdout, "version %d: %s\n", v, ev.Event)
		}
		return err
	}
	for {
		err := c.Watch(ctx, key, have, print)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, node.ErrWatchEnded), connected && errors.Is(err, node.ErrUnreachable):
			fmt.Fprintf(a.stderr, "dhtnode: watch %q: %v; reconnecting\n", key, err)
		default:
			return fmt.Errorf("watch %q: %w", key, err)
		}
		select {
		case <-time.After(watchReconnect):
		case <-ctx.Done():
			return nil
		}
	}
}
