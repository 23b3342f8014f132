package replication

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Create stores a record only where the key is unknown, and otherwise
// answers with what is stored; of racing creates exactly one stores.
func TestStoreCreate(t *testing.T) {
	ctx := context.Background()
	s := newDiskStore(t, 1024)
	priv := newKey(t)
	rec := func(key string, v uint64, value string) *Record {
		return signed(t, priv, Record{Key: key, Version: v, WrittenAt: int64(v), Value: []byte(value)})
	}

	if have, err := s.Create(ctx, rec("new", 1, "first")); err != nil || have != nil {
		t.Fatalf("create of an unknown key = %q, %v; want it stored", have, err)
	}
	if _, err := s.Put(ctx, rec("new", 3, "third")); err != nil {
		t.Fatal(err)
	}
	have, err := s.Create(ctx, rec("new", 1, "late"))
	if err != nil || have == nil {
		t.Fatalf("create of a known key = %q, %v; want the stored record", have, err)
	}
	if got, err := Unmarshal("new", have); err != nil || got.Version != 3 || string(got.Value) != "third" {
		t.Fatalf("create answered with %+v, %v; want version 3", got, err)
	}
	if v := version(t, s, "new"); v != 3 {
		t.Fatalf("a refused create changed the stored version to %d", v)
	}

	forged := rec("forged", 1, "x")
	forged.Value = []byte("y")
	if _, err := s.Create(ctx, forged); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("create of a forged record = %v, want ErrBadSignature", err)
	}
	if v := version(t, s, "forged"); v != 0 {
		t.Fatalf("a forged create stored version %d", v)
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	for i := range 8 {
		wg.Go(func() {
			have, err := s.Create(ctx, rec("raced", 1, fmt.Sprint(i)))
			if err != nil {
				t.Error(err)
			}
			if have == nil {
				mu.Lock()
				stored++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if stored != 1 {
		t.Fatalf("%d of 8 racing creates stored the key, want 1", stored)
	}
}

// The rules that end a round of writes.
func TestWriteTallyCompletion(t *testing.T) {
	stored := answer{}
	had := answer{rec: &Record{Version: 2}}
	cases := []struct {
		name           string
		need, readNeed int
		answers        []answer
		complete       bool
	}{
		{"write: W acks", 5, 0, []answer{stored, stored, stored, stored, stored}, true},
		{"write: fewer than W", 5, 0, []answer{stored, stored, stored, stored}, false},
		{"create: W acks, all without a record", 5, 5, []answer{stored, stored, stored, stored, stored}, true},
		{"create: W acks but fewer than R answers", 2, 5, []answer{stored, stored, stored}, false},
		{"create: a record, fewer than R answers", 5, 5, []answer{had, stored, stored, stored}, false},
		{"create: a record among R answers", 5, 5, []answer{stored, had, stored, stored, stored}, true},
		{"create: only records", 5, 5, []answer{had, had, had, had, had}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tally := newWriteTally(tc.need, tc.readNeed)
			for _, a := range tc.answers {
				tally.add(a)
			}
			select {
			case <-tally.done:
				if !tc.complete {
					t.Fatal("complete too early")
				}
			default:
				if tc.complete {
					t.Fatal("not complete")
				}
			}
		})
	}
}

// storeLog records the records each memNet node stores.
type storeLog struct {
	mu     sync.Mutex
	stored map[peer.ID][]*Record
}

func logStores(net *memNet) *storeLog {
	l := &storeLog{stored: map[peer.ID][]*Record{}}
	for _, p := range net.order {
		net.node(p).store.onChange(func(_ []byte, key string, _, rec []byte) {
			if rec == nil {
				return
			}
			r, err := Unmarshal(key, rec)
			if err != nil {
				panic(err)
			}
			l.mu.Lock()
			l.stored[p] = append(l.stored[p], r)
			l.mu.Unlock()
		})
	}
	return l
}

// at returns the versions p stored, each with its value.
func (l *storeLog) at(p peer.ID) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := ""
	for _, r := range l.stored[p] {
		s += fmt.Sprintf(" %d:%s", r.Version, r.Value)
	}
	return s
}

// distinct returns the different records stored, over all nodes.
func (l *storeLog) distinct() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]bool{}
	for _, rs := range l.stored {
		for _, r := range rs {
			out[fmt.Sprintf("v%d written_at %d", r.Version, r.WrittenAt)] = true
		}
	}
	return out
}

// A put whose first round falls short of W without finding another
// writer's record sends its own version 1 record again, and does not stamp
// a second one: no holder ever stores two records of version 1 for one put.
func TestCreateShortOfWWritesOneVersionOneRecord(t *testing.T) {
	net := newMemNet(t, 5, 5, nil)
	log := logStores(net)
	net.set(net.down, net.order[4], true)
	res, err := net.node(net.order[0]).m.Put(testCtx(t), "once", []byte("v"), WriteOptions{W: 5})
	if !errors.Is(err, ErrInsufficientReplicas) || res.Acks != 4 || res.Version != 1 {
		t.Fatalf("put with one of 5 holders down and w=5: %+v, %v; want 4 acks of version 1 and ErrInsufficientReplicas", res, err)
	}
	if got := log.distinct(); len(got) != 1 {
		t.Fatalf("the holders stored %d different records (%v), want 1", len(got), got)
	}
}

// A put that follows an acknowledged create whose copies have not reached
// every holder yet stores its first-round version 1 on those holders (a
// CREATE finds no record there), and its second round supersedes it with
// version 2: the competing version 1 record lasts only until then. This
// is the race that had a watch send version 1 twice (watch.go, newer).
func TestCreateAfterALaggingCreateSupersedesItsFirstRound(t *testing.T) {
	net := newMemNet(t, 5, 5, func(c *Config) { c.RPCTimeout = time.Minute })
	const key = "lagging"
	log := logStores(net)
	lagging := net.order[3:]
	for _, p := range lagging { // put 1's copies to them stay under way
		net.set(net.stalled, p, true)
	}
	if res, err := net.node(net.order[0]).m.Put(testCtx(t), key, []byte("a"), WriteOptions{}); err != nil || res.Version != 1 || res.Acks != 3 {
		t.Fatalf("put 1: %+v, %v; want version 1 acknowledged by 3 of 5", res, err)
	}
	eventually(t, "put 1's CREATEs sent to the stalled holders", func() bool {
		return !slices.ContainsFunc(lagging, func(p peer.ID) bool { return net.count("create", p) == 0 })
	})
	for _, p := range lagging {
		net.set(net.stalled, p, false)
	}
	// r=5: put 2's first round ends once every holder answered.
	res, err := net.node(net.order[1]).m.Put(testCtx(t), key, []byte("b"), WriteOptions{R: 5})
	if err != nil || res.Version != 2 {
		t.Fatalf("put 2: %+v, %v; want version 2", res, err)
	}
	want := func(p peer.ID) string {
		if slices.Contains(lagging, p) {
			return " 1:b 2:b" // put 2's first round, then its version 2
		}
		return " 1:a 2:b"
	}
	eventually(t, "every holder at version 2", func() bool {
		return !slices.ContainsFunc(net.order, func(p peer.ID) bool { return net.version(p, key) != 2 })
	})
	for _, p := range net.order {
		if got := log.at(p); got != want(p) {
			t.Fatalf("a holder stored%s; want%s", got, want(p))
		}
	}
}
