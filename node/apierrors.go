package node

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Limits on what a request may ask for.
const (
	// maxRequestURI bounds path and query: a key is at most 512 bytes, 1,536
	// escaped, so 8 KiB leaves room for every parameter. Longer URIs get a
	// JSON 414 (URIs over apiMaxHeaderBytes are refused by net/http itself).
	maxRequestURI = 8 << 10
	// minTTL keeps a record from expiring before its holders have it.
	minTTL = 100 * time.Millisecond
	// maxTTL keeps expires_at far from the end of int64 nanoseconds (year 2262).
	maxTTL = 10 * 365 * 24 * time.Hour
)

// queryParams lists the query parameters each method of the value and
// replicas routes takes; any other parameter is a 400, not silently ignored.
var queryParams = map[string][]string{
	http.MethodGet:    {"r"},
	http.MethodHead:   {"r"},
	http.MethodPut:    {"ttl", "w", "if_version"},
	http.MethodDelete: {"w", "if_version"},
}

// checkParams answers 400 itself and returns false when the request has a
// query parameter its route and method do not take, or one given twice.
func checkParams(w http.ResponseWriter, r *http.Request) bool {
	allowed := queryParams[r.Method]
	if strings.HasPrefix(r.URL.EscapedPath(), replicasPrefix) {
		allowed = nil
	}
	return checkParamsOf(w, r, allowed)
}

// checkParamsOf is checkParams for a route that takes the parameters allowed.
func checkParamsOf(w http.ResponseWriter, r *http.Request, allowed []string) bool {
	q := r.URL.Query()
	names := make([]string, 0, len(q))
	for name := range q {
		names = append(names, name)
	}
	slices.Sort(names)
	takes := "none"
	if len(allowed) > 0 {
		takes = strings.Join(allowed, ", ")
	}
	for _, name := range names {
		msg := ""
		switch {
		case !slices.Contains(allowed, name):
			msg = "unknown query parameter " + quote(name) + ": " + r.Method + " here takes " + takes
		case len(q[name]) > 1:
			msg = "query parameter " + quote(name) + " given more than once"
		default:
			continue
		}
		writeError(w, http.StatusBadRequest, msg, CodeBadRequest)
		return false
	}
	return true
}

// quote shortens and quotes a client's parameter name for an error message.
func quote(s string) string {
	const maxLen = 64
	if len(s) > maxLen {
		s = s[:maxLen] + "…"
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}

// writeInternal answers 500 without the error's text, which can name
// internal state (files, peers); the text goes to the node's log instead.
func writeInternal(w http.ResponseWriter, err error) {
	logger, method, path := slog.Default(), "", ""
	if aw, ok := w.(*apiWriter); ok {
		logger, method, path = aw.logger, aw.req.Method, aw.req.URL.EscapedPath()
	}
	level := slog.LevelError
	if errors.Is(err, context.Canceled) {
		level = slog.LevelDebug // the client went away; nobody reads the answer
	}
	logger.Log(context.Background(), level, "HTTP API: internal error", "method", method, "path", path, "error", err)
	writeError(w, http.StatusInternalServerError, "internal error (details in the node's log)", CodeInternal)
}

// apiWriter is the response writer API handlers get: it carries what
// writeInternal needs to log an error with its request.
type apiWriter struct {
	http.ResponseWriter
	logger *slog.Logger
	req    *http.Request
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *apiWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush sends buffered data to the client, for streaming routes.
func (w *apiWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
