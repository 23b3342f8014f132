package replication

import (
	"fmt"
	"testing"
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
