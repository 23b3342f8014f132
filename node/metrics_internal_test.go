package node

import (
	"net/http"
	"testing"
	"time"
)

func TestRequestResult(t *testing.T) {
	for status, want := range map[int]string{
		200: "ok", 404: "not_found", 409: "conflict", 503: "quorum_failed",
		400: "bad_request", 413: "bad_request", 401: "bad_request", 500: "error", 504: "error",
	} {
		if got := requestResult(status); got != want {
			t.Errorf("requestResult(%d) = %s, want %s", status, got, want)
		}
	}
}

func TestRequestOp(t *testing.T) {
	for _, c := range []struct{ method, path, want string }{
		{http.MethodPut, "/v1/values/a%2Fb", "put"},
		{http.MethodGet, "/v1/values/a", "get"},
		{http.MethodDelete, "/v1/values/a", "delete"},
		{http.MethodPost, "/v1/values/a", ""},
		{http.MethodGet, "/v1/replicas/a", "replicas"},
		{http.MethodGet, "/v1/status", ""},
		{http.MethodGet, "/metrics", ""},
	} {
		r, _ := http.NewRequest(c.method, "http://x"+c.path, nil)
		if got := requestOp(r); got != c.want {
			t.Errorf("%s %s: op %q, want %q", c.method, c.path, got, c.want)
		}
	}
}

func TestSizeFromBuckets(t *testing.T) {
	b := func(peers ...int) []BucketState {
		out := make([]BucketState, len(peers))
		for i, p := range peers {
			out[i] = BucketState{Index: i, Peers: p}
		}
		return out
	}
	for _, c := range []struct {
		buckets []BucketState
		want    int
	}{
		{nil, 1},                       // alone
		{b(2, 1), 4},                   // no bucket full: everyone is known
		{b(20, 20, 5, 3), (8 + 1) * 4}, // buckets 2.. cover a quarter of the key space
		{b(20), 2},                     // every bucket full: the last one's count, doubled
	} {
		if got := sizeFromBuckets(c.buckets, 20); got != c.want {
			t.Errorf("sizeFromBuckets(%v) = %d, want %d", c.buckets, got, c.want)
		}
	}
}

func TestActivity(t *testing.T) {
	a := newActivity()
	t0 := time.Unix(1_000_000, 0) // on a slot boundary
	a.add(t0, 10*time.Millisecond, false)
	a.add(t0.Add(time.Second), 30*time.Millisecond, true)
	a.add(t0.Add(activitySlot), 5*time.Millisecond, false)
	a.add(t0.Add(2*activitySlot), time.Millisecond, false) // the slot in progress at now

	snap := a.snapshot(t0.Add(2 * activitySlot))
	if len(snap.Points) != activitySlots-1 || snap.IntervalSeconds != activitySlot.Seconds() {
		t.Fatalf("%d points every %v s", len(snap.Points), snap.IntervalSeconds)
	}
	last, prev := snap.Points[len(snap.Points)-1], snap.Points[len(snap.Points)-2]
	if !prev.At.Equal(t0) || prev.Requests != 2 || prev.Errors != 1 || prev.MeanMs != 20 || prev.MaxMs != 30 {
		t.Errorf("first slot %+v", prev)
	}
	if last.Requests != 1 || last.MeanMs != 5 {
		t.Errorf("second slot %+v", last)
	}
	// A full ring later, the old slots are gone, not counted again.
	later := a.snapshot(t0.Add((activitySlots + 1) * activitySlot))
	for _, p := range later.Points {
		if p.Requests > 0 && !p.At.Equal(t0.Add(2*activitySlot)) {
			t.Errorf("stale slot %+v in a later snapshot", p)
		}
	}
	a.add(t0.Add(activitySlots*activitySlot), time.Millisecond, false) // same ring index as t0
	for _, p := range a.snapshot(t0.Add((activitySlots + 1) * activitySlot)).Points {
		if p.Requests > 1 {
			t.Errorf("slot %+v mixes old and new requests", p)
		}
	}
}
