package node

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A 500 tells the client only that something failed; the error's text,
// which may name files or peers, goes to the node's log with the request.
func TestInternalErrorIsLoggedNotSent(t *testing.T) {
	var logged bytes.Buffer
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/v1/values/k", nil)
	w := &apiWriter{ResponseWriter: rec, logger: slog.New(slog.NewTextHandler(&logged, nil)), req: req}
	writeOpError(w, errors.New("open /var/lib/dhtnode/leveldb/000123.ldb: input/output error"), nil)
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "000123.ldb") ||
		!strings.Contains(rec.Body.String(), `"code":"internal"`) {
		t.Errorf("500 body %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(logged.String(), "000123.ldb") || !strings.Contains(logged.String(), "/v1/values/k") {
		t.Errorf("log %q lacks the error or the request", logged.String())
	}
}
