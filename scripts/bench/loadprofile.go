package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"time"
)

// pprofEnv turns on api.pprof in the dhtnode processes the benchmark starts
// (they inherit its environment) when -load-profile is set.
const pprofEnv = "DHTNODE_API_PPROF"

// profileLoad CPU-profiles, for d from after into the load (-load-profile-after),
// every live node (GET /debug/pprof/profile, written to dir/node-<i>.pprof)
// and the benchmark process itself (dir/bench.pprof). It returns a function
// that waits for the profiles and reports the first error. Merge the nodes'
// with `go tool pprof -proto dir/node-*.pprof`.
func profileLoad(ctx context.Context, c *Cluster, dir string, after, d time.Duration) (wait func() error) {
	var wg sync.WaitGroup
	errs := make(chan error, len(c.Nodes)+1)
	wg.Go(func() {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			errs <- err
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(after):
		}
		var inner sync.WaitGroup
		for i, nd := range c.Live() {
			inner.Go(func() {
				if err := fetchProfile(ctx, nd.API, d, filepath.Join(dir, fmt.Sprintf("node-%02d.pprof", i))); err != nil {
					errs <- err
				}
			})
		}
		f, err := os.Create(filepath.Join(dir, "bench.pprof"))
		if err != nil {
			errs <- err
		} else {
			if err := pprof.StartCPUProfile(f); err != nil {
				errs <- err
			} else {
				select {
				case <-ctx.Done():
				case <-time.After(d):
				}
				pprof.StopCPUProfile()
			}
			if err := f.Close(); err != nil {
				errs <- err
			}
		}
		inner.Wait()
	})
	return func() error {
		wg.Wait()
		close(errs)
		return <-errs // nil when closed empty
	}
}

// fetchProfile writes a node's CPU profile of d to path.
func fetchProfile(ctx context.Context, api string, d time.Duration, path string) error {
	u := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", api, int(d.Seconds()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s (is api.pprof on?)", u, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
