package node

import (
	"net/http"
	"strings"
	"sync"
	"time"
)

// instrument wraps the API handler: every value and replicas request is
// counted in dhtnode_requests_total{op,result}, timed in
// dhtnode_request_duration_seconds{op} and added to the activity history
// that GET /v1/activity serves to the dashboard. Other routes pass through
// untouched.
func (m *metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := requestOp(r)
		if op == "" {
			next.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(sw, r)
		took := time.Since(start)
		result := requestResult(sw.status)
		m.requests.WithLabelValues(op, result).Inc()
		m.duration.WithLabelValues(op).Observe(took.Seconds())
		m.activity.add(start, took, result != "ok" && result != "not_found")
	})
}

// requestOp names the operation of a request for the request metrics; ""
// for requests they do not count (other routes, methods a route lacks).
func requestOp(r *http.Request) string {
	path := r.URL.EscapedPath()
	switch {
	case path == batchPath && r.Method == http.MethodPost:
		return "put_batch" // one request of many puts (batch.go)
	case strings.HasPrefix(path, valuesPrefix):
		switch r.Method {
		case http.MethodPut:
			return "put"
		case http.MethodGet:
			return "get"
		case http.MethodDelete:
			return "delete"
		}
	case strings.HasPrefix(path, replicasPrefix) && r.Method == http.MethodGet:
		return "replicas"
	}
	return ""
}

// requestResult maps the status of an answer to a result label (the statuses
// are set in one place, writeOpError).
func requestResult(status int) string {
	switch {
	case status < 300:
		return "ok"
	case status == http.StatusNotFound:
		return "not_found"
	case status == http.StatusConflict:
		return "conflict"
	case status == http.StatusServiceUnavailable:
		return "quorum_failed"
	case status < 500:
		return "bad_request"
	}
	return "error"
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush passes a flush on, for handlers that stream their answer.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// The activity history: request counts and latencies in activitySlot-long
// slots over the last activitySlots slots (five minutes).
const (
	activitySlot  = 2 * time.Second
	activitySlots = 150
)

// ActivityResponse is the body of GET /v1/activity: the node's value and
// replicas requests over the last minutes, oldest slot first, the slot in
// progress left out.
type ActivityResponse struct {
	IntervalSeconds float64         `json:"interval_seconds"`
	Points          []ActivityPoint `json:"points"`
}

// ActivityPoint is one slot of the activity history.
type ActivityPoint struct {
	At       time.Time `json:"at"` // start of the slot
	Requests int       `json:"requests"`
	Errors   int       `json:"errors"` // results other than ok and not_found
	MeanMs   float64   `json:"mean_ms"`
	MaxMs    float64   `json:"max_ms"`
}

type activitySlotState struct {
	index         int64 // slot number since the Unix epoch; identifies stale slots
	requests, bad int
	total, max    time.Duration
}

// activity is a ring of activity slots.
type activity struct {
	mu    sync.Mutex
	slots [activitySlots]activitySlotState
}

func newActivity() *activity { return &activity{} }

func slotIndex(t time.Time) int64 { return t.UnixNano() / int64(activitySlot) }

func (a *activity) add(at time.Time, took time.Duration, bad bool) {
	idx := slotIndex(at)
	a.mu.Lock()
	defer a.mu.Unlock()
	s := &a.slots[idx%activitySlots]
	if s.index != idx {
		*s = activitySlotState{index: idx}
	}
	s.requests++
	if bad {
		s.bad++
	}
	s.total += took
	s.max = max(s.max, took)
}

// snapshot returns the completed slots of the last five minutes before now.
func (a *activity) snapshot(now time.Time) ActivityResponse {
	cur := slotIndex(now)
	out := ActivityResponse{IntervalSeconds: activitySlot.Seconds(), Points: make([]ActivityPoint, 0, activitySlots-1)}
	a.mu.Lock()
	defer a.mu.Unlock()
	for idx := cur - activitySlots + 1; idx < cur; idx++ {
		p := ActivityPoint{At: time.Unix(0, idx*int64(activitySlot)).UTC()}
		if s := a.slots[idx%activitySlots]; s.index == idx && s.requests > 0 {
			p.Requests, p.Errors = s.requests, s.bad
			p.MeanMs = float64(s.total) / float64(s.requests) / float64(time.Millisecond)
			p.MaxMs = float64(s.max) / float64(time.Millisecond)
		}
		out.Points = append(out.Points, p)
	}
	return out
}
