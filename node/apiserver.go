package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"

	"github.com/dhtnode/dhtnode/config"
)

// Bounds of the HTTP server that are not configurable.
const (
	// apiHeaderTimeout bounds the wait for a request's headers.
	apiHeaderTimeout = 10 * time.Second
	// apiMaxHeaderBytes bounds a request's headers, URL included. A key is
	// at most 512 bytes, 1,536 escaped: 16 KiB leaves room for any real request.
	apiMaxHeaderBytes = 16 << 10
	// apiDrainTimeout bounds how long a stopping node waits for API requests
	// in flight; the hand-off of records has its own budget after it.
	apiDrainTimeout = 5 * time.Second
)

// apiServer is the node's HTTP API server with its listener. Clients are
// bounded in what they can hold: time to send a request (api.read_timeout),
// idle keep-alive time (api.idle_timeout), and open connections
// (api.max_connections; connections over it wait in the kernel's accept
// queue, holding none of the process's file descriptors), so the API can
// never take the descriptors libp2p needs to accept peers.
type apiServer struct {
	ln      net.Listener // bounded by max_connections
	srv     *http.Server
	serving atomic.Bool
}

// listenAPI binds the API address; it serves nothing until serve.
func listenAPI(cfg config.API, h http.Handler) (*apiServer, error) {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("api.listen %s: %w", cfg.Listen, err)
	}
	return &apiServer{
		ln: netutil.LimitListener(ln, cfg.MaxConnections),
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: min(apiHeaderTimeout, cfg.ReadTimeout),
			ReadTimeout:       cfg.ReadTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			MaxHeaderBytes:    apiMaxHeaderBytes,
		},
	}, nil
}

// addr is the bound address.
func (a *apiServer) addr() net.Addr { return a.ln.Addr() }

// serve answers requests until shutdown; call it once.
func (a *apiServer) serve() error {
	a.serving.Store(true)
	if err := a.srv.Serve(a.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// shutdown stops accepting, lets requests in flight finish for up to
// timeout, then closes every connection still open. The listener is closed
// whether or not serve ever ran. It reports the requests cut off.
func (a *apiServer) shutdown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := a.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = errors.Join(fmt.Errorf("API requests still running after %s were cut off", timeout), a.srv.Close())
	}
	if !a.serving.Load() {
		// Shutdown closes only listeners that Serve was given.
		if cerr := a.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = errors.Join(err, cerr)
		}
	}
	return err
}
