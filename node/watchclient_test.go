package node

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
)

func eventsOf(stream string) ([]WatchEvent, error) {
	var got []WatchEvent
	err := readEvents(&http.Response{Body: io.NopCloser(bytes.NewBufferString(stream))}, func(ev WatchEvent) error {
		got = append(got, ev)
		return nil
	})
	return got, err
}

func TestReadEvents(t *testing.T) {
	got, err := eventsOf(": heartbeat\n\nid: 0\nevent: deleted\ndata: {\"version\":0}\n\n" +
		"id: 3\nevent: value\ndata: {\"version\":3,\"written_at\":\"2026-12-06T14:00:00Z\",\"value\":\"aGk=\"}\n\n")
	if !errors.Is(err, ErrWatchEnded) || len(got) != 2 {
		t.Fatalf("events %+v, %v", got, err)
	}
	if ev := got[1]; ev.Event != WatchEventValue || ev.Version != 3 || ev.Value == nil || string(*ev.Value) != "hi" || ev.WrittenAt == nil {
		t.Fatalf("second event %+v", ev)
	}
	if _, err := eventsOf("event: value\ndata: {not json\n\n"); err == nil || errors.Is(err, ErrWatchEnded) {
		t.Fatalf("bad data: %v, want a parse error", err)
	}
}

// The SSE parser returns an error or ErrWatchEnded for any input, never
// panics, and passes on only events whose data parsed.
func FuzzReadEvents(f *testing.F) {
	f.Add("id: 1\nevent: value\ndata: {\"version\":1,\"value\":\"eA==\"}\n\n")
	f.Add(": heartbeat\n\n")
	f.Add("data: {}\n\ndata")
	f.Add("event:\n\n\n")
	f.Fuzz(func(t *testing.T, stream string) {
		_, err := eventsOf(stream)
		if err == nil {
			t.Fatal("readEvents returned nil at the end of the stream")
		}
	})
}
