package replication

import (
	"fmt"
	"testing"
	"time"
)

// A watch sends one event per version: before the first state it keeps the
// winning record of the holders' copies, after it a second record of a
// version already sent (a concurrent writer's, or a put's first-round copy
// that lost, create.go) is not sent again, and the next version is.
func TestKeyWatchSendsEachVersionOnce(t *testing.T) {
	kw := &keyWatch{key: "k", clients: map[*Watch]struct{}{}}
	w := newWatch(kw)
	kw.clients[w] = struct{}{}
	rec := func(version uint64, writtenAt int64) *Record {
		return &Record{Key: "k", Version: version, WrittenAt: writtenAt, Value: []byte(fmt.Sprint(writtenAt))}
	}
	kw.offer(rec(1, 10))
	kw.offer(rec(1, 20)) // wins over the first: the first state is the winner
	kw.markReady()
	kw.offer(rec(1, 30)) // another record of version 1: not a new version
	kw.offer(rec(2, 40))
	kw.offer(rec(2, 50))
	kw.offer(rec(1, 60))
	kw.offer(rec(3, 70))
	w.mu.Lock()
	defer w.mu.Unlock()
	got := ""
	for _, ev := range w.queue {
		got += fmt.Sprintf(" %d@%d", ev.Record.Version, ev.Record.WrittenAt)
	}
	if got != " 1@20 2@40 3@70" {
		t.Fatalf("events:%s; want 1@20 2@40 3@70", got)
	}
}

// Records past a gap are held back, every one of them: when the gap
// closes they are all sent in order at once, and when it does not close
// within watchReorderWait they are still all sent, in order, past the
// version that never came.
func TestKeyWatchSendsEveryHeldVersion(t *testing.T) {
	kw := &keyWatch{key: "k", clients: map[*Watch]struct{}{}}
	w := newWatch(kw)
	kw.clients[w] = struct{}{}
	rec := func(version uint64) *Record {
		return &Record{Key: "k", Version: version, WrittenAt: int64(version), Value: []byte(fmt.Sprint(version))}
	}
	versions := func() string {
		w.mu.Lock()
		defer w.mu.Unlock()
		got := ""
		for _, ev := range w.queue {
			got += fmt.Sprintf(" %d", ev.Record.Version)
		}
		return got
	}
	kw.offer(rec(1))
	kw.markReady()
	for _, v := range []uint64{3, 4, 2} { // 3 and 4 overtake 2
		kw.offer(rec(v))
	}
	if got := versions(); got != " 1 2 3 4" {
		t.Fatalf("gap closed: events%s; want 1 2 3 4 at once", got)
	}
	for _, v := range []uint64{6, 8, 7} { // 5 never comes
		kw.offer(rec(v))
	}
	deadline := time.Now().Add(10 * time.Second)
	for versions() != " 1 2 3 4 6 7 8" {
		if time.Now().After(deadline) {
			t.Fatalf("after the reorder wait: events%s; want 1 2 3 4 6 7 8", versions())
		}
		time.Sleep(5 * time.Millisecond)
	}
	kw.offer(rec(5)) // too late: not newer than 8
	kw.offer(rec(9))
	if got := versions(); got != " 1 2 3 4 6 7 8 9" {
		t.Fatalf("events%s; want 1 2 3 4 6 7 8 9", got)
	}
}
