package replication

import (
	"errors"
	"testing"

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
