package replication

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestStoreLimitRefusesGrowthOnly fills a store to its limit and checks
// what it still takes: no new key and no bigger copy, but a same-size or
// smaller replacement, and a new key again once a delete made room. The
// bytes it counts survive a reopen.
func TestStoreLimitRefusesGrowthOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, s := diskStoreAt(t, dir, NewValidator(1024))
	const limit = 4000
	if err := s.LimitBytes(limit); err != nil {
		t.Fatal(err)
	}
	priv := newKey(t)
	rec := func(key string, v uint64, size int) *Record {
		return signed(t, priv, Record{Key: key, Version: v, WrittenAt: int64(v), Value: []byte(strings.Repeat("x", size))})
	}
	var held []string
	for i := 0; ; i++ {
		key := fmt.Sprintf("k%d", i)
		_, err := s.Put(ctx, rec(key, 1, 200))
		if errors.Is(err, ErrStorageFull) {
			break
		}
		if err != nil || i > 100 {
			t.Fatalf("put %d: %v", i, err)
		}
		held = append(held, key)
	}
	u := s.Usage()
	if u.UsedBytes > limit || u.UsedBytes < limit/2 || u.MaxBytes != limit || !u.Full {
		t.Fatalf("usage after filling: %+v", u)
	}
	if _, err := s.Create(ctx, rec("new", 1, 200)); !errors.Is(err, ErrStorageFull) {
		t.Fatalf("create of a new key on a full store: %v, want ErrStorageFull", err)
	}
	if _, err := s.Put(ctx, rec(held[0], 2, 200)); err != nil {
		t.Fatalf("same-size update on a full store: %v", err)
	}
	if _, err := s.Put(ctx, rec(held[1], 2, 100)); err != nil {
		t.Fatalf("smaller update on a full store: %v", err)
	}
	if _, err := s.Put(ctx, rec(held[2], 2, 900)); !errors.Is(err, ErrStorageFull) {
		t.Fatalf("bigger update on a full store: %v, want ErrStorageFull", err)
	}
	if r, err := s.Get(ctx, held[2]); err != nil || r == nil || r.Version != 1 {
		t.Fatalf("after a refused update, %q = %v, %v; want version 1 kept", held[2], r, err)
	}
	for _, key := range held {
		if r, err := s.Get(ctx, key); err != nil || r == nil {
			t.Fatalf("%q lost on a full store: %v", key, err)
		}
	}
	r, _ := s.Get(ctx, held[3])
	if err := s.Remove(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, rec("after-delete", 1, 100)); err != nil {
		t.Fatalf("new key after a delete made room: %v", err)
	}
	used := s.Usage().UsedBytes
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	_, s = diskStoreAt(t, dir, NewValidator(1024))
	if err := s.LimitBytes(limit); err != nil {
		t.Fatal(err)
	}
	if got := s.Usage().UsedBytes; got != used {
		t.Fatalf("reopened store counts %d bytes, the running one %d", got, used)
	}
	if err := s.LimitBytes(0); err != nil || s.Usage() != (StorageUsage{}) {
		t.Fatalf("limit 0: %v, usage %+v; want no limit", err, s.Usage())
	}
	if _, err := s.Put(ctx, rec("unlimited", 1, 900)); err != nil {
		t.Fatalf("put without a limit: %v", err)
	}
}
