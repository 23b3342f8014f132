package replication

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestOwner(t *testing.T) {
	id, err := peer.IDFromPrivateKey(newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		key   string
		owned bool
		err   error
	}{
		{"plain", false, nil},
		{"a@b/c", false, nil},
		{"@" + id.String() + "/profile", true, nil},
		{"@" + id.String() + "/a/b/c", true, nil},
		{"@" + id.String() + "/", false, ErrInvalidKey},
		{"@" + id.String(), false, ErrInvalidKey},
		{"@notapeer/x", false, ErrInvalidKey},
		{"@/x", false, ErrInvalidKey},
		{"@" + peer.ToCid(id).String() + "/x", false, ErrInvalidKey}, // not the canonical text
	}
	for _, c := range cases {
		owner, owned, err := Owner(c.key)
		if owned != c.owned || !errors.Is(err, c.err) || (owned && owner != id) {
			t.Errorf("Owner(%q) = %s, %v, %v; want owned %v, error %v", c.key, owner, owned, err, c.owned, c.err)
		}
	}
}

// A holder's validator stores a record of an owned key only if the owner
// wrote and signed it; open keys take any writer.
func TestValidatorEnforcesOwnership(t *testing.T) {
	owner, intruder := newKey(t), newKey(t)
	ownerID, _ := peer.IDFromPrivateKey(owner)
	key := "@" + ownerID.String() + "/profile"
	v := NewValidator(1024)
	byOwner := signed(t, owner, Record{Key: key, Value: []byte("mine"), Version: 1, WrittenAt: 1})
	tomb := signed(t, owner, Record{Key: key, Version: 2, WrittenAt: 2, Deleted: true})
	byIntruder := signed(t, intruder, Record{Key: key, Value: []byte("yours"), Version: 9, WrittenAt: 1})
	intruderTomb := signed(t, intruder, Record{Key: key, Version: 9, WrittenAt: 1, Deleted: true})
	// The writer field names the owner, the signature is the intruder's.
	forged := signed(t, intruder, Record{Key: key, Value: []byte("forged"), Version: 9, WrittenAt: 1})
	forged.Writer = ownerID
	open := signed(t, intruder, Record{Key: "open", Value: []byte("x"), Version: 1, WrittenAt: 1})
	cases := []struct {
		name string
		r    *Record
		want error
	}{
		{"owner's value", byOwner, nil},
		{"owner's tombstone", tomb, nil},
		{"intruder's value", byIntruder, ErrForbidden},
		{"intruder's tombstone", intruderTomb, ErrForbidden},
		{"forged signature", forged, ErrBadSignature},
		{"open key, any writer", open, nil},
	}
	for _, c := range cases {
		if err := v.Validate(DHTKey(c.r.Key), c.r.Marshal()); !errors.Is(err, c.want) {
			t.Errorf("%s: Validate = %v, want %v", c.name, err, c.want)
		}
	}
}

// An owned key's versions only grow: an expired record of it still blocks
// older records (a replay of the owner's earlier writes) and a CREATE, and
// repair never drops it or its tombstone.
func TestOwnedKeyKeepsItsLastRecord(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1_000_000, 0)
	valid := NewValidator(1024)
	valid.clock = func() time.Time { return now }
	s := newMemStore(t, valid)
	priv := newKey(t)
	id, _ := peer.IDFromPrivateKey(priv)
	key := "@" + id.String() + "/status"
	v5 := signed(t, priv, Record{Key: key, Version: 5, WrittenAt: 5, ExpiresAt: now.Add(time.Second).UnixNano(), Value: []byte{5}})
	if stored, err := s.Put(ctx, v5); !stored || err != nil {
		t.Fatalf("v5: %v, %v", stored, err)
	}
	now = now.Add(2 * time.Second)
	replay := signed(t, priv, Record{Key: key, Version: 1, WrittenAt: 1, Value: []byte{1}})
	if stored, err := s.Put(ctx, replay); stored || err != nil {
		t.Fatalf("an older record over the expired v5: stored %v, %v; want refused", stored, err)
	}
	existing, err := s.Create(ctx, replay)
	if err != nil || existing == nil {
		t.Fatalf("a CREATE over the expired v5: %v, %v; want the v5 answered", existing, err)
	}
	if !keepsForever(key) || keepsForever("open") || keepsForever("@bad/x") {
		t.Fatal("keepsForever is wrong")
	}
	v6 := signed(t, priv, Record{Key: key, Version: 6, WrittenAt: 6, Value: []byte{6}})
	if stored, err := s.Put(ctx, v6); !stored || err != nil {
		t.Fatalf("v6 over the expired v5: %v, %v", stored, err)
	}
}

// Owner accepts exactly "@<canonical peer ID>/<name>" as owned, refuses
// every other key starting with "@", and leaves the rest open.
func FuzzOwner(f *testing.F) {
	id, err := peer.IDFromPrivateKey(newKey(f))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"plain", "@" + id.String() + "/x", "@" + id.String(), "@x/y", "@/", "@" + id.String() + "//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		owner, owned, err := Owner(key)
		switch {
		case !strings.HasPrefix(key, "@"):
			if owned || err != nil {
				t.Fatalf("open key %q: owned %v, %v", key, owned, err)
			}
		case err != nil:
			if owned || !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("Owner(%q) = %v, %v", key, owned, err)
			}
		default:
			if !owned || !strings.HasPrefix(key, "@"+owner.String()+"/") || len(key) == len(owner.String())+2 {
				t.Fatalf("Owner(%q) = %s, %v", key, owner, owned)
			}
		}
	})
}
