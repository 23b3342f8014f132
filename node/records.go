package node

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/dhtnode/dhtnode/replication"
)

// recordsPrefix routes records signed by their writer, not by the node:
// GET returns the current record of a key in its wire form (tombstones
// too), PUT replicates a record signed elsewhere exactly as it is
// (replication.Manager.PutRecord). A client that holds the key of an owned
// namespace ("@<peer ID>/...") writes through any node this way, and the
// node cannot alter or forge what it forwards.
const recordsPrefix = "/v1/records/"

// recordEnvelopeRoom is the room a record's wire form needs besides its value.
const recordEnvelopeRoom = 4 << 10

func (n *Node) handleRecord(w http.ResponseWriter, r *http.Request, escapedKey string) {
	key, ok := pathKey(w, escapedKey)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	switch r.Method {
	case http.MethodGet:
		n.handleGetRecord(ctx, w, r, key)
	case http.MethodPut:
		n.handlePutRecord(ctx, w, r, key)
	default:
		w.Header().Set("Allow", "GET, PUT")
		writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed here", CodeMethodNotAllowed)
	}
}

func (n *Node) handleGetRecord(ctx context.Context, w http.ResponseWriter, r *http.Request, key string) {
	reads, err := quorumParam(r.URL.Query(), "r", n.cfg.Replication.Factor)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), CodeBadRequest)
		return
	}
	rec, err := n.repl.Current(ctx, key, reads)
	if err != nil {
		writeOpError(w, err, nil)
		return
	}
	if rec == nil {
		writeError(w, http.StatusNotFound, "no record", CodeNotFound)
		return
	}
	data := rec.Marshal()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set(HeaderVersion, strconv.FormatUint(rec.Version, 10))
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

func (n *Node) handlePutRecord(ctx context.Context, w http.ResponseWriter, r *http.Request, key string) {
	opts, err := n.putOptions(r.URL.Query())
	if err == nil && opts.TTL != 0 {
		err = errors.New("ttl is a signed field of the record; set it when signing")
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), CodeBadRequest)
		return
	}
	limit := int64(n.cfg.Replication.MaxValueSize + recordEnvelopeRoom)
	data, err := readBody(w, r, limit)
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			writeError(w, http.StatusRequestEntityTooLarge, tooLarge(int64(n.cfg.Replication.MaxValueSize)), CodeTooLarge)
			return
		}
		writeError(w, http.StatusBadRequest, "reading the body: "+err.Error(), CodeBadRequest)
		return
	}
	rec, err := replication.Unmarshal(key, data)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error(), CodeBadRequest)
		return
	}
	res, err := n.repl.PutRecord(ctx, rec, opts)
	if err != nil {
		writeOpError(w, err, &res)
		return
	}
	writeJSON(w, http.StatusOK, PutResponse{Key: key, Version: res.Version, Acks: res.Acks, Replicas: res.Replicas})
}
