package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/dhtnode/dhtnode/replication"
)

// watchPrefix routes watches: GET /v1/watch/{key} streams the key's states
// as Server-Sent Events (replication.Manager.Watch).
const watchPrefix = "/v1/watch/"

// watchHeartbeat is how often an idle watch stream gets a comment line, so
// that clients and proxies can tell a quiet stream from a dead one.
const watchHeartbeat = 15 * time.Second

// WatchEventData is the data of one watch event: the record's version,
// when it was written and, for a value, the value (base64 in JSON). A key
// no holder has a record of is reported as deleted at version 0.
type WatchEventData struct {
	Version   uint64     `json:"version"`
	WrittenAt *time.Time `json:"written_at,omitempty"`
	Value     *[]byte    `json:"value,omitempty"` // base64; absent unless the event is a value
}

// Watch event names (the SSE "event:" field).
const (
	WatchEventValue   = "value"
	WatchEventDeleted = "deleted"
	WatchEventExpired = "expired"
)

// handleWatch streams a watch: first the key's current state, then one
// event per newer version, a comment every watchHeartbeat. With a
// Last-Event-ID (a version the client has), the current state is sent
// only if it is newer.
func (n *Node) handleWatch(w http.ResponseWriter, r *http.Request, escapedKey string) {
	key, ok := pathKey(w, escapedKey)
	if !ok {
		return
	}
	var have *uint64
	if s := r.Header.Get("Last-Event-ID"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "Last-Event-ID must be a version (a non-negative integer)", CodeBadRequest)
			return
		}
		have = &v
	}
	rc := http.NewResponseController(w)
	// The stream outlives api.read_timeout: a read deadline left on the
	// connection would end it (the server's read that notices a client
	// going away fails at the deadline and cancels the request).
	if err := rc.SetReadDeadline(time.Time{}); err != nil {
		writeOpError(w, err, nil)
		return
	}
	watch, err := n.repl.Watch(key)
	if err != nil {
		writeOpError(w, err, nil)
		return
	}
	defer watch.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return
	}
	first := true
	for {
		ctx, cancel := context.WithTimeout(r.Context(), watchHeartbeat)
		ev, err := watch.Next(ctx)
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil:
			_, err = fmt.Fprint(w, ": heartbeat\n\n")
		case err != nil:
			return
		default:
			if !first || have == nil || eventVersion(ev) > *have {
				err = writeWatchEvent(w, ev)
			}
			first = false
		}
		if err != nil || rc.Flush() != nil {
			return
		}
	}
}

func eventVersion(ev replication.WatchEvent) uint64 {
	if ev.Record == nil {
		return 0
	}
	return ev.Record.Version
}

// writeWatchEvent writes one SSE event.
func writeWatchEvent(w http.ResponseWriter, ev replication.WatchEvent) error {
	name := WatchEventDeleted // absent: deleted at version 0
	switch ev.Kind {
	case replication.WatchValue:
		name = WatchEventValue
	case replication.WatchExpired:
		name = WatchEventExpired
	}
	data := WatchEventData{}
	if r := ev.Record; r != nil {
		at := time.Unix(0, r.WrittenAt).UTC()
		data.Version, data.WrittenAt = r.Version, &at
		if ev.Kind == replication.WatchValue {
			value := r.Value
			data.Value = &value
		}
	}
	body, err := json.Marshal(data)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", data.Version, name, body)
	return err
}
