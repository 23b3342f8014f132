package node

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/dhtnode/dhtnode/node/dashboard"
	"github.com/dhtnode/dhtnode/replication"
)

// requestTimeout bounds one value operation of the API.
const requestTimeout = 10 * time.Second

// Route prefixes of the HTTP API (SPEC §5).
const (
	valuesPrefix   = "/v1/values/"
	replicasPrefix = "/v1/replicas/"
)

// handler routes the API. Keys are taken from the escaped path by hand so
// that keys with "/", "//" or ".." reach the handlers unchanged.
func (n *Node) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w = &apiWriter{ResponseWriter: w, logger: n.logger, req: r}
		if len(r.RequestURI) > maxRequestURI {
			writeError(w, http.StatusRequestURITooLong, "request URI longer than "+strconv.Itoa(maxRequestURI)+" bytes", CodeURITooLong)
			return
		}
		path := r.URL.EscapedPath()
		switch path {
		case "/healthz":
			n.only(w, r, http.MethodGet, func() { writeJSON(w, http.StatusOK, map[string]string{"status": "ok"}) })
			return
		case "/readyz":
			n.only(w, r, http.MethodGet, func() { n.handleReady(w, r) })
			return
		}
		if path == "/" || strings.HasPrefix(path, dashboard.Prefix) { // static files; the page asks for the token
			n.only(w, r, http.MethodGet, func() { dashboard.Handler().ServeHTTP(w, r) })
			return
		}
		if !n.authorized(r) {
			writeError(w, http.StatusUnauthorized, "missing or wrong API token", CodeUnauthorized)
			return
		}
		switch {
		case path == "/v1/status":
			n.only(w, r, http.MethodGet, func() { writeJSON(w, http.StatusOK, n.status()) })
		case path == "/v1/peers":
			n.only(w, r, http.MethodGet, func() { writeJSON(w, http.StatusOK, n.peers()) })
		case path == "/metrics":
			n.only(w, r, http.MethodGet, func() { n.metrics.serve.ServeHTTP(w, r) })
		case strings.HasPrefix(path, pprofPrefix) && n.cfg.API.Pprof:
			servePprof(w, r)
		case path == "/v1/activity":
			n.only(w, r, http.MethodGet, func() { writeJSON(w, http.StatusOK, n.metrics.activity.snapshot(time.Now())) })
		case path == batchPath:
			n.only(w, r, http.MethodPost, func() { n.handleBatch(w, r) }) // batch.go
		case strings.HasPrefix(path, valuesPrefix):
			n.handleValue(w, r, strings.TrimPrefix(path, valuesPrefix))
		case strings.HasPrefix(path, watchPrefix):
			n.only(w, r, http.MethodGet, func() { n.handleWatch(w, r, strings.TrimPrefix(path, watchPrefix)) }) // watch.go
		case strings.HasPrefix(path, recordsPrefix):
			n.handleRecord(w, r, strings.TrimPrefix(path, recordsPrefix)) // records.go
		case strings.HasPrefix(path, replicasPrefix):
			n.only(w, r, http.MethodGet, func() {
				if checkParams(w, r) {
					n.handleReplicas(w, r, strings.TrimPrefix(path, replicasPrefix))
				}
			})
		default:
			writeError(w, http.StatusNotFound, "no such route: "+r.URL.Path, CodeNotFound)
		}
	})
}

// only serves the request if its method is method; a GET route answers HEAD
// too (net/http sends the headers without the body).
func (n *Node) only(w http.ResponseWriter, r *http.Request, method string, serve func()) {
	if r.Method != method && (method != http.MethodGet || r.Method != http.MethodHead) {
		allow := method
		if method == http.MethodGet {
			allow = "GET, HEAD"
		}
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed here", CodeMethodNotAllowed)
		return
	}
	serve()
}

func (n *Node) authorized(r *http.Request) bool {
	if n.cfg.API.Token == "" {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(n.cfg.API.Token)) == 1
}

// Ready reports whether the node can serve: storage is open (it is from New
// on) and the routing table is not empty.
func (n *Node) Ready() bool { return n.dht.RoutingTable().Size() > 0 }

// handleReady answers /readyz: 503 while the routing table is empty or the
// datastore fails a read. A store recovered from corruption at start is
// ready, with a note on what it lost.
func (n *Node) handleReady(w http.ResponseWriter, r *http.Request) {
	if err := n.checkStorage(r.Context()); err != nil {
		n.logger.Error("readyz: datastore read failed", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, ErrorResponse{Error: "storage unhealthy: " + err.Error(), Code: "not_ready"})
		return
	}
	if !n.Ready() {
		writeJSON(w, http.StatusServiceUnavailable, ErrorResponse{Error: "routing table is empty", Code: "not_ready"})
		return
	}
	body := map[string]string{"status": "ready", "storage": "ok"}
	if n.storageNote != "" {
		body["storage"] = n.storageNote
	}
	writeJSON(w, http.StatusOK, body)
}

func (n *Node) handleValue(w http.ResponseWriter, r *http.Request, escapedKey string) {
	key, ok := pathKey(w, escapedKey)
	if !ok {
		return
	}
	if !checkParams(w, r) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		n.handleGet(ctx, w, r, key)
	case http.MethodPut:
		n.handlePut(ctx, w, r, key)
	case http.MethodDelete:
		opts, err := writeOptions(r.URL.Query())
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error(), CodeBadRequest)
			return
		}
		res, err := n.repl.Delete(ctx, key, opts)
		n.metrics.observeWrite(res, err)
		if err != nil {
			writeOpError(w, err, &res)
			return
		}
		writeJSON(w, http.StatusOK, DeleteResponse{Key: key, Version: res.Version, Acks: res.Acks})
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, DELETE")
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed here", CodeMethodNotAllowed)
	}
}

func (n *Node) handleGet(ctx context.Context, w http.ResponseWriter, r *http.Request, key string) {
	q := r.URL.Query()
	reads, err := quorumParam(q, "r", n.cfg.Replication.Factor)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), CodeBadRequest)
		return
	}
	rec, err := n.repl.Get(ctx, key, reads)
	if err != nil {
		writeOpError(w, err, nil)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set(HeaderVersion, strconv.FormatUint(rec.Version, 10))
	h.Set(HeaderWrittenAt, time.Unix(0, rec.WrittenAt).UTC().Format(time.RFC3339Nano))
	h.Set("Content-Length", strconv.Itoa(len(rec.Value)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(rec.Value)
}

func (n *Node) handlePut(ctx context.Context, w http.ResponseWriter, r *http.Request, key string) {
	opts, err := n.putOptions(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), CodeBadRequest)
		return
	}
	limit := int64(n.cfg.Replication.MaxValueSize)
	if r.ContentLength > limit {
		writeError(w, http.StatusRequestEntityTooLarge, tooLarge(limit), CodeTooLarge)
		return
	}
	value, err := readBody(w, r, limit)
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			writeError(w, http.StatusRequestEntityTooLarge, tooLarge(limit), CodeTooLarge)
			return
		}
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error(), CodeBadRequest)
		return
	}
	res, err := n.repl.Put(ctx, key, value, opts)
	n.metrics.observeWrite(res, err)
	if err != nil {
		writeOpError(w, err, &res)
		return
	}
	writeJSON(w, http.StatusOK, PutResponse{Key: key, Version: res.Version, Acks: res.Acks, Replicas: res.Replicas})
}

// pathKey unescapes and validates a key taken from a URL path, answering 400
// itself when it is not a valid key.
func pathKey(w http.ResponseWriter, escaped string) (string, bool) {
	key, err := url.PathUnescape(escaped)
	if err == nil {
		err = replication.ValidateKey(key)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad key: "+err.Error(), CodeBadRequest)
		return "", false
	}
	return key, true
}

func tooLarge(limit int64) string {
	return "value larger than max_value_size (" + strconv.FormatInt(limit, 10) + " bytes)"
}

// putOptions is writeOptions for a write of new contents (a value, a
// record, a batch): its w may not exceed the replication factor.
func (n *Node) putOptions(q url.Values) (replication.WriteOptions, error) {
	o, err := writeOptions(q)
	if err == nil && o.W > n.cfg.Replication.Factor {
		err = errors.New("w must be between 1 and the replication factor")
	}
	return o, err
}

// writeOptions parses the query parameters of a write: ttl, w, if_version.
func writeOptions(q url.Values) (replication.WriteOptions, error) {
	var o replication.WriteOptions
	if s := q.Get("ttl"); s != "" {
		d, err := parseTTL(s)
		if err != nil {
			return o, err
		}
		o.TTL = d
	}
	w, err := quorumParam(q, "w", 0)
	if err != nil {
		return o, err
	}
	o.W = w
	if s := q.Get("if_version"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return o, errors.New("if_version must be a non-negative integer")
		}
		o.IfVersion = &v
	}
	return o, nil
}

// parseTTL parses a write's ttl: a Go duration from minTTL to maxTTL.
func parseTTL(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < minTTL || d > maxTTL {
		return 0, errors.New("ttl must be a Go duration from 100ms to 87600h (ten years), such as 90s or 24h")
	}
	return d, nil
}

// quorumParam parses an optional quorum parameter: 0 when absent, else an
// integer from 1 to limit (no upper limit when limit is 0).
func quorumParam(q url.Values, name string, limit int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return 0, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || (limit > 0 && v > limit) {
		return 0, errors.New(name + " must be an integer from 1 to the replication factor")
	}
	return v, nil
}

func (n *Node) handleReplicas(w http.ResponseWriter, r *http.Request, escapedKey string) {
	key, ok := pathKey(w, escapedKey)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	states, best, err := n.repl.Replicas(ctx, key)
	if err != nil {
		writeOpError(w, err, nil)
		return
	}
	resp := ReplicasResponse{Key: key, Version: best, Holders: make([]HolderReplica, 0, len(states))}
	for _, s := range states {
		h := HolderReplica{PeerID: s.Peer.String(), Version: s.Version, Has: best > 0 && s.Version == best, Deleted: s.Deleted, Self: s.Peer == n.host.ID()}
		resp.Deleted = resp.Deleted || (h.Has && s.Deleted)
		if s.Err != nil {
			h.Error = s.Err.Error()
		}
		resp.Holders = append(resp.Holders, h)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (n *Node) status() StatusResponse {
	rs := n.routing.Stats()
	st := n.repl.Stats()
	usage := n.repl.StorageUsage()
	resp := StatusResponse{
		PeerID:        n.host.ID().String(),
		Network:       n.cfg.Network,
		Version:       Version,
		Addrs:         n.ListenAddrs(),
		UptimeSeconds: time.Since(n.started).Seconds(),
		Ready:         n.Ready(),
		Connections:   len(n.host.Network().Conns()),
		RoutingTable: RoutingTableState{
			Size: n.dht.RoutingTable().Size(), Buckets: n.buckets(),
			Probes: rs.Probes, Evictions: rs.Evictions, Rebootstraps: rs.Rebootstraps,
			Suspicions: rs.Suspicions, Recoveries: rs.Recoveries, Slowness: rs.Slowness,
		},
		Records: RecordsState{Count: st.Records, Bytes: st.Bytes, UnderReplicated: st.UnderReplicated,
			MaxBytes: usage.MaxBytes, Full: usage.Full},
		Replication: ReplicationState{
			Factor:       n.cfg.Replication.Factor,
			WriteQuorum:  n.cfg.Replication.WriteQuorum.String(),
			ReadQuorum:   n.cfg.Replication.ReadQuorum.String(),
			RepairsTotal: st.RepairsTotal, AuditsTotal: st.AuditsTotal, RepairBytesTotal: st.RepairBytes, RepairBytesSentTotal: st.RepairBytesSent,
			RepairLookupsTotal: st.RepairLookups, RepairLookupBytesTotal: st.RepairLookupBytes,
			ReadsTotal: st.ReadsTotal, HedgedReadsTotal: st.HedgedTotal,
			BadAnswersTotal: st.BadAnswers, PartialWritesTotal: st.PartialWrites,
		},
	}
	ws := n.repl.WatchStats()
	resp.Watches = WatchesState{Clients: ws.Clients, Keys: ws.Keys, Subscriptions: ws.Subscriptions, Served: ws.Served}
	if !st.LastSweep.IsZero() {
		resp.Replication.LastSweep = &st.LastSweep
	}
	return resp
}

// bucketOf is the k-bucket index of a peer: its common prefix length with us.
func (n *Node) bucketOf(p peer.ID) int {
	return kb.CommonPrefixLen(kb.ConvertPeerID(n.host.ID()), kb.ConvertPeerID(p))
}

func (n *Node) buckets() []BucketState {
	counts := map[int]int{}
	maxIdx := -1
	for _, p := range n.dht.RoutingTable().ListPeers() {
		b := n.bucketOf(p)
		counts[b]++
		maxIdx = max(maxIdx, b)
	}
	out := make([]BucketState, 0, maxIdx+1)
	for i := 0; i <= maxIdx; i++ {
		out = append(out, BucketState{Index: i, Peers: counts[i]})
	}
	return out
}

func (n *Node) peers() []PeerResponse {
	infos := n.dht.RoutingTable().GetPeerInfos()
	out := make([]PeerResponse, 0, len(infos))
	ps := n.host.Peerstore()
	for _, info := range infos {
		pr := PeerResponse{
			PeerID:    info.Id.String(),
			Addrs:     []string{},
			Bucket:    n.bucketOf(info.Id),
			Connected: n.host.Network().Connectedness(info.Id) == network.Connected,
			RTTMillis: float64(ps.LatencyEWMA(info.Id)) / float64(time.Millisecond),
		}
		for _, a := range ps.Addrs(info.Id) {
			pr.Addrs = append(pr.Addrs, a.String())
		}
		seen := info.LastSuccessfulOutboundQueryAt
		if h, ok := n.routing.PeerHealth(info.Id); ok {
			if h.LastSeen.After(seen) {
				seen = h.LastSeen
			}
			if h.RTT > 0 {
				pr.RTTMillis = float64(h.RTT) / float64(time.Millisecond)
			}
		}
		if !seen.IsZero() {
			pr.LastSeen = &seen
		}
		out = append(out, pr)
	}
	return out
}

// writeOpError maps a replication error to its status (the one mapping of
// errors to HTTP statuses, opError); res carries the acks of a write that
// fell short.
func writeOpError(w http.ResponseWriter, err error, res *replication.WriteResult) {
	status, code, msg := opError(err)
	switch {
	case code == CodeInternal:
		writeInternal(w, err)
	case code == CodeInsufficientReplicas:
		body := ErrorResponse{Error: msg, Code: code}
		if res != nil && res.Needed > 0 {
			body.Acks, body.Needed = &res.Acks, &res.Needed
		}
		writeJSON(w, status, body)
	default:
		writeError(w, status, msg, code)
	}
}

// opError maps a replication error to its HTTP status, API error code and
// message; CodeInternal's message hides the error's text.
func opError(err error) (status int, code, msg string) {
	switch {
	case errors.Is(err, replication.ErrInvalidKey), errors.Is(err, replication.ErrBadQuorum):
		return http.StatusBadRequest, CodeBadRequest, err.Error()
	case errors.Is(err, replication.ErrTooManyWatches):
		return http.StatusServiceUnavailable, CodeTooManyWatches, err.Error()
	case errors.Is(err, replication.ErrForbidden):
		return http.StatusForbidden, CodeForbidden, err.Error()
	case errors.Is(err, replication.ErrMalformed), errors.Is(err, replication.ErrBadSignature), errors.Is(err, replication.ErrExpired):
		return http.StatusBadRequest, CodeBadRequest, err.Error()
	case errors.Is(err, replication.ErrNotFound):
		return http.StatusNotFound, CodeNotFound, "not found"
	case errors.Is(err, replication.ErrVersionConflict):
		return http.StatusConflict, CodeConflict, err.Error()
	case errors.Is(err, replication.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, CodeTooLarge, err.Error()
	case errors.Is(err, replication.ErrInsufficientReplicas):
		return http.StatusServiceUnavailable, CodeInsufficientReplicas, err.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, CodeTimeout, "timed out"
	default:
		return http.StatusInternalServerError, CodeInternal, "internal error (details in the node's log)"
	}
}

func writeError(w http.ResponseWriter, status int, msg, code string) {
	writeJSON(w, status, ErrorResponse{Error: msg, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// readBody reads a request's body of at most limit bytes (more fails with
// *http.MaxBytesError) into one buffer sized from its Content-Length when
// that is within the limit: io.ReadAll grew a buffer from 512 bytes by
// doubling, copying a batch's body of 64 KiB and more several times.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength <= limit {
		buf.Grow(int(r.ContentLength) + bytes.MinRead) // room to read the end of the body
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	return buf.Bytes(), err
}
