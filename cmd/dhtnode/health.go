package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// defaultHealthTimeout bounds one health check: a container runtime's
// HEALTHCHECK or a probe gives up on its own after a few seconds.
const defaultHealthTimeout = 3 * time.Second

func (a *app) newHealthCmd() *cobra.Command {
	var (
		o       *clientOptions
		ready   bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Exit 0 when the node's /healthz (or /readyz with --ready) answers 200, else 1",
		Long: `health asks a running node whether it serves (GET /healthz) or, with
--ready, whether it is ready (GET /readyz: routing table not empty, storage
open). It exits 0 on HTTP 200 and 1 otherwise, so the binary is its own
container health check and the image needs no shell or curl.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 {
				return usageError{fmt.Errorf("--timeout must be positive, not %s", timeout)}
			}
			path := "/healthz"
			if ready {
				path = "/readyz"
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if err := checkHealth(ctx, o.client(a).BaseURL()+path); err != nil {
				return fmt.Errorf("health: %w", err)
			}
			_, err := fmt.Fprintln(a.stdout, "ok")
			return err
		},
	}
	o = addClientFlags(cmd, false)
	f := cmd.Flags()
	f.BoolVar(&ready, "ready", false, "check /readyz instead of /healthz")
	f.DurationVar(&timeout, "timeout", defaultHealthTimeout, "give up after this long")
	return cmd
}

// checkHealth GETs url and returns nil on HTTP 200, else an error saying
// what answered (or that nothing did).
func checkHealth(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("bad API URL: %v", err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered HTTP %d", url, resp.StatusCode)
	}
	return nil
}
