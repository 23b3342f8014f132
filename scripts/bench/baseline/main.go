// Command baseline is the benchmark's reference node: vanilla
// go-libp2p-kad-dht with default options (apart from server mode, the
// "/bench" protocol prefix and a permissive validator for namespace "v"),
// an in-memory datastore and a tiny HTTP API that speaks the subset of
// dhtnode's API the benchmark uses:
//
//	PUT /v1/values/{key}  -> PutValue("/v/"+key, body)
//	GET /v1/values/{key}  -> GetValue("/v/"+key), raw bytes or 404
//	GET /v1/local/{key}   -> 200 when this node's datastore holds the key, else 404
//	GET /v1/status        -> {"peer_id", "addrs", "routing_table": {"size"}}
//	GET /readyz           -> 200 once the routing table is not empty
//	GET /healthz          -> 200 while serving
//
// Usage: baseline -listen /ip4/127.0.0.1/tcp/7100 -api 127.0.0.1:8100
// [-bootstrap /ip4/127.0.0.1/tcp/7100/p2p/ID]. Once listening it prints one
// line "baseline peer_id=ID addr=MULTIADDR api=URL" on stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/multiformats/go-base32"
	"github.com/multiformats/go-multiaddr"
)

// opTimeout bounds every PutValue/GetValue; kad-dht leaks goroutines on
// quorum reads whose context is never cancelled (notes §0.4).
const opTimeout = 10 * time.Second

// maxBody is the largest value accepted by PUT.
const maxBody = 1 << 20

func main() {
	listen := flag.String("listen", "/ip4/127.0.0.1/tcp/0", "libp2p listen multiaddr")
	api := flag.String("api", "127.0.0.1:0", "HTTP API host:port")
	bootstrap := flag.String("bootstrap", "", "bootstrap peer multiaddr with /p2p/<id> (optional)")
	flag.Parse()
	if err := run(*listen, *api, *bootstrap); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

// permissiveValidator accepts every record and always keeps the first.
type permissiveValidator struct{}

// Validate accepts anything.
func (permissiveValidator) Validate(string, []byte) error { return nil }

// Select picks the first candidate.
func (permissiveValidator) Select(string, [][]byte) (int, error) { return 0, nil }

// node is one running baseline node.
type node struct {
	host  host.Host
	dht   *dht.IpfsDHT
	store ds.Datastore
}

func run(listen, api, bootstrap string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var boot []peer.AddrInfo
	if bootstrap != "" {
		ma, err := multiaddr.NewMultiaddr(bootstrap)
		if err != nil {
			return fmt.Errorf("bootstrap address: %w", err)
		}
		ai, err := peer.AddrInfoFromP2pAddr(ma)
		if err != nil {
			return fmt.Errorf("bootstrap address: %w", err)
		}
		boot = append(boot, *ai)
	}

	n, err := newNode(listen, boot)
	if err != nil {
		return err
	}
	defer n.Close()

	ln, err := net.Listen("tcp", api)
	if err != nil {
		return fmt.Errorf("api listen: %w", err)
	}
	srv := &http.Server{Handler: n.routes(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	for _, a := range n.host.Addrs() {
		fmt.Printf("baseline peer_id=%s addr=%s/p2p/%s api=http://%s\n", n.host.ID(), a, n.host.ID(), ln.Addr())
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("api serve: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// newNode starts a libp2p host listening on listen and a server-mode DHT
// that bootstraps from boot.
func newNode(listen string, boot []peer.AddrInfo) (*node, error) {
	h, err := libp2p.New(libp2p.ListenAddrStrings(listen))
	if err != nil {
		return nil, fmt.Errorf("libp2p host: %w", err)
	}
	store := dssync.MutexWrap(ds.NewMapDatastore())
	d, err := dht.New(h,
		dht.Mode(dht.ModeServer),
		dht.ProtocolPrefix("/bench"),
		dht.Datastore(store),
		dht.Validator(record.NamespacedValidator{"v": permissiveValidator{}}),
		dht.BootstrapPeers(boot...),
	)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("kad-dht: %w", err), h.Close())
	}
	return &node{host: h, dht: d, store: store}, nil
}

// Close stops the DHT, then the host (kad-dht's Close leaves the host open).
func (n *node) Close() error {
	return errors.Join(n.dht.Close(), n.host.Close())
}

// routes returns the HTTP handler of the API.
func (n *node) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /readyz", n.handleReady)
	mux.HandleFunc("GET /v1/status", n.handleStatus)
	mux.HandleFunc("PUT /v1/values/{key...}", n.handlePut)
	mux.HandleFunc("GET /v1/values/{key...}", n.handleGet)
	mux.HandleFunc("GET /v1/local/{key...}", n.handleLocal)
	return mux
}

func (n *node) handleReady(w http.ResponseWriter, _ *http.Request) {
	if n.dht.RoutingTable().Size() == 0 {
		writeError(w, http.StatusServiceUnavailable, "routing table empty")
		return
	}
	w.WriteHeader(http.StatusOK)
}

// statusResponse is the subset of dhtnode's GET /v1/status the benchmark reads.
type statusResponse struct {
	PeerID       string   `json:"peer_id"`
	Addrs        []string `json:"addrs"`
	RoutingTable struct {
		Size int `json:"size"`
	} `json:"routing_table"`
}

func (n *node) handleStatus(w http.ResponseWriter, _ *http.Request) {
	var st statusResponse
	st.PeerID = n.host.ID().String()
	for _, a := range n.host.Addrs() {
		st.Addrs = append(st.Addrs, a.String())
	}
	st.RoutingTable.Size = n.dht.RoutingTable().Size()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(st)
}

func (n *node) handlePut(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	if err := n.dht.PutValue(ctx, dhtKey(r.PathValue("key")), body); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"key": r.PathValue("key")})
}

func (n *node) handleGet(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), opTimeout)
	defer cancel()
	val, err := n.dht.GetValue(ctx, dhtKey(r.PathValue("key")))
	switch {
	case errors.Is(err, routing.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(val)
	}
}

func (n *node) handleLocal(w http.ResponseWriter, r *http.Request) {
	has, err := n.store.Has(r.Context(), localKey(dhtKey(r.PathValue("key"))))
	switch {
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	case has:
		w.WriteHeader(http.StatusOK)
	default:
		writeError(w, http.StatusNotFound, "not held locally")
	}
}

// dhtKey is the kad-dht key of a user key.
func dhtKey(key string) string { return "/v/" + key }

// localKey is where kad-dht's value store keeps a record of namespace "v"
// (records/value_store.go valueDsKey, notes §4.2).
func localKey(dhtKey string) ds.Key {
	return ds.NewKey("/v/" + base32.RawStdEncoding.EncodeToString([]byte(dhtKey)))
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
