package replication

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestWinnerVerifiesFirst: an answer that does not verify never wins, even
// expired (issue 16: a forged expired record at version 2^64-1 won, turning
// reads into 404 and poisoning the next version).
func TestWinnerVerifiesFirst(t *testing.T) {
	priv := newKey(t)
	honest := signed(t, priv, Record{Key: "k", Value: []byte("v"), Version: 3, WrittenAt: time.Now().UnixNano()})
	forged := &Record{Key: "k", Version: math.MaxUint64, ExpiresAt: 1, Writer: honest.Writer, Signature: []byte("junk")}
	m := &Manager{valid: NewValidator(1 << 10)}
	for name, got := range map[string][]answer{
		"forged first": {{rec: forged}, {rec: honest}},
		"forged last":  {{rec: honest}, {rec: forged}},
	} {
		if w := m.winner(got); w != honest {
			t.Fatalf("%s: winner = %+v, want the honest record", name, w)
		}
	}
	if w := m.winner([]answer{{rec: forged}, {}}); w != nil {
		t.Fatalf("only a forged answer: winner = %+v, want none", w)
	}
	// A true expired record still wins: the key expired.
	expired := signed(t, priv, Record{Key: "k", Version: 4, WrittenAt: time.Now().UnixNano(), ExpiresAt: 1})
	if w := m.winner([]answer{{rec: honest}, {rec: expired}}); w != expired {
		t.Fatalf("winner = %+v, want the expired newer record", w)
	}
}

// TestTransportCountsBadAnswers: a holder's answer whose record fails
// validation is an error, and counted.
func TestTransportCountsBadAnswers(t *testing.T) {
	priv := newKey(t)
	tr := &transport{store: &Store{valid: NewValidator(16)}}
	good := signed(t, priv, Record{Key: "k", Value: []byte("v"), Version: 1, WrittenAt: time.Now().UnixNano()})
	if r, err := tr.verify(peer.ID("p"), good); err != nil || r != good {
		t.Fatalf("good record: %v", err)
	}
	bad := *good
	bad.Version = 2
	if _, err := tr.verify(peer.ID("p"), &bad); err == nil || tr.bad.Load() != 1 {
		t.Fatalf("tampered record: err %v, bad answers %d", err, tr.bad.Load())
	}
}

// TestPutNewerRefusesAnotherRecordOfItsVersion is the holder's half of
// compare-and-set (cas.go).
func TestPutNewerRefusesAnotherRecordOfItsVersion(t *testing.T) {
	s := newDiskStore(t, 1<<10)
	ctx := context.Background()
	priv := newKey(t)
	now := time.Now().UnixNano()
	at := func(v uint64, value string, written int64) *Record {
		return signed(t, priv, Record{Key: "k", Value: []byte(value), Version: v, WrittenAt: written})
	}
	first, second := at(2, "first", now), at(2, "second", now+1)
	for _, step := range []struct {
		rec    *Record
		stored bool
	}{
		{at(1, "one", now-1), true},
		{first, true},
		{first, true},   // the same record again: idempotent
		{second, false}, // another record of version 2, even one that ranks higher
		{at(1, "old", now+2), false},
		{at(3, "three", now+3), true},
	} {
		existing, err := s.PutNewer(ctx, step.rec)
		if err != nil {
			t.Fatal(err)
		}
		if (existing == nil) != step.stored {
			t.Fatalf("PutNewer(v%d %q): stored = %v, want %v", step.rec.Version, step.rec.Value, existing == nil, step.stored)
		}
	}
	if v := version(t, s, "k"); v != 3 {
		t.Fatalf("stored version %d, want 3", v)
	}
}

// A key written at the clock bound (by a writer whose clock is ahead, or
// one that means harm) is not locked: the next write follows it within
// half of MaxClockSkew, at a version that passes validation.
func TestStampFollowsAVersionAtTheClockBound(t *testing.T) {
	priv := newKey(t)
	v := NewValidator(1 << 10)
	ahead := time.Now().Add(MaxClockSkew - 500*time.Millisecond)
	cur := signed(t, priv, Record{Key: "k", Value: []byte("v"), Version: uint64(ahead.UnixMicro()), WrittenAt: ahead.UnixNano()})
	if err := v.checkAnswer(cur); err != nil {
		t.Fatalf("a record at the bound was refused: %v", err)
	}
	m := &Manager{priv: priv, valid: v}
	ctx, cancel := context.WithTimeout(context.Background(), MaxClockSkew)
	defer cancel()
	start := time.Now()
	next := &Record{Key: "k", Value: []byte("next")}
	if err := m.stamp(ctx, next, cur, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > MaxClockSkew/2 {
		t.Fatalf("the next write waited %v, more than half of MaxClockSkew", took)
	}
	if next.Version != cur.Version+1 || v.checkAnswer(next) != nil || next.Compare(cur) <= 0 {
		t.Fatalf("next = v%d at %d (%v), want v%d passing validation", next.Version, next.WrittenAt, v.checkAnswer(next), cur.Version+1)
	}
}
