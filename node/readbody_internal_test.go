package node

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// readBody reads the whole body whatever its Content-Length says, refuses
// one over the limit, and reads a body whose Content-Length is right into
// one buffer (io.ReadAll grew one by doubling: about ten for 90 KB).
func TestReadBody(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 9000)
	req := func(contentLength int64) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/v1/values", bytes.NewReader(body))
		r.ContentLength = contentLength
		return r
	}
	for _, cl := range []int64{int64(len(body)), -1, 0, 100, int64(len(body)) + 1000} {
		got, err := readBody(httptest.NewRecorder(), req(cl), 1<<20)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("Content-Length %d: %d bytes, %v; want the %d of the body", cl, len(got), err, len(body))
		}
	}
	for _, cl := range []int64{int64(len(body)), -1, 100} {
		if _, err := readBody(httptest.NewRecorder(), req(cl), int64(len(body))-1); !errors.As(err, new(*http.MaxBytesError)) {
			t.Fatalf("Content-Length %d, a body over the limit: %v, want a MaxBytesError", cl, err)
		}
	}
	w, r := httptest.NewRecorder(), req(int64(len(body)))
	allocs := testing.AllocsPerRun(20, func() {
		r.Body = io.NopCloser(bytes.NewReader(body))
		if got, err := readBody(w, r, 1<<20); err != nil || len(got) != len(body) {
			t.Fatal(len(got), err)
		}
	})
	if allocs > 6 { // the body's reader, the limit's, the buffer
		t.Errorf("%.0f allocations to read a body of %d bytes", allocs, len(body))
	}
}
