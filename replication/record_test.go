package replication

import (
	"bytes"
	"crypto/rand"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
)

func newKey(t testing.TB) crypto.PrivKey {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func signed(t testing.TB, priv crypto.PrivKey, r Record) *Record {
	t.Helper()
	if err := r.Sign(priv); err != nil {
		t.Fatal(err)
	}
	return &r
}

func TestRecordRoundTrip(t *testing.T) {
	priv := newKey(t)
	cases := map[string]Record{
		"value":       {Key: "a", Value: []byte("hello"), Version: 1, WrittenAt: 1700000000000000000},
		"empty":       {Key: "dir/with/slashes", Value: []byte{}, Version: 7, WrittenAt: 1},
		"ttl":         {Key: "k", Value: []byte("v"), Version: 2, WrittenAt: 5, ExpiresAt: time.Now().Add(time.Hour).UnixNano()},
		"tombstone":   {Key: "gone", Version: 3, WrittenAt: 9, Deleted: true},
		"unicode":     {Key: "ключ/🔑", Value: bytes.Repeat([]byte{0}, 1000), Version: 1 << 40, WrittenAt: 1700000000000000000},
		"before 1970": {Key: "old", Value: []byte("v"), Version: 2, WrittenAt: -1},
	}
	v := Validator{MaxValueSize: 64 << 10}
	for name, rec := range cases {
		t.Run(name, func(t *testing.T) {
			r := signed(t, priv, rec)
			got, err := v.Decode(DHTKey(r.Key), r.Marshal())
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.Compare(r) != 0 || !bytes.Equal(got.Value, r.Value) || got.Deleted != r.Deleted ||
				got.ExpiresAt != r.ExpiresAt || got.Writer != r.Writer {
				t.Fatalf("round trip changed the record: %+v != %+v", got, r)
			}
		})
	}
}

func TestValidatorRejects(t *testing.T) {
	priv := newKey(t)
	v := NewValidator(16)
	good := signed(t, priv, Record{Key: "k", Value: []byte("v"), Version: 1, WrittenAt: 1})
	// Verified first, so the cases below also show the signature cache does
	// not let a changed record through.
	if err := v.Validate("/v/k", good.Marshal()); err != nil {
		t.Fatalf("a good record was rejected: %v", err)
	}
	tampered := *good
	tampered.Value = []byte("x")
	otherKey := signed(t, priv, Record{Key: "other", Value: []byte("v"), Version: 1, WrittenAt: 1})
	big := signed(t, priv, Record{Key: "k", Value: make([]byte, 17), Version: 1, WrittenAt: 1})
	expired := signed(t, priv, Record{Key: "k", Value: []byte("v"), Version: 1, WrittenAt: 1, ExpiresAt: time.Now().Add(-time.Second).UnixNano()})
	trailing := append(good.Marshal(), 0)
	now := time.Now().UnixNano()
	versionZero := signed(t, priv, Record{Key: "k", Value: []byte("v"), Version: 0, WrittenAt: now})
	overflowing := signed(t, priv, Record{Key: "k", Value: []byte("v"), Version: math.MaxUint64, WrittenAt: now})
	aheadOfClock := signed(t, priv, Record{Key: "k", Value: []byte("v"), Version: uint64(now/1000) + 1_000_000, WrittenAt: now})
	future := signed(t, priv, Record{Key: "k", Value: []byte("v"), Version: 1, WrittenAt: now + int64(time.Minute)})
	unsigned := Record{Key: "k", Value: []byte("v"), Version: 1, WrittenAt: 1, Writer: good.Writer}
	cases := []struct {
		name  string
		key   string
		value []byte
		want  error
	}{
		{"tampered value", "/v/k", tampered.Marshal(), ErrBadSignature},
		{"signed for another key", "/v/k", otherKey.Marshal(), ErrBadSignature},
		{"too large", "/v/k", big.Marshal(), ErrTooLarge},
		{"expired", "/v/k", expired.Marshal(), ErrExpired},
		{"version 0", "/v/k", versionZero.Marshal(), ErrBadVersion},
		{"version 2^64-1", "/v/k", overflowing.Marshal(), ErrBadVersion},
		{"version ahead of written_at", "/v/k", aheadOfClock.Marshal(), ErrBadVersion},
		{"written in the future", "/v/k", future.Marshal(), ErrBadVersion},
		{"unsigned", "/v/k", unsigned.Marshal(), ErrBadSignature},
		{"other namespace", "/pk/k", good.Marshal(), ErrInvalidKey},
		{"empty user key", "/v/", good.Marshal(), ErrInvalidKey},
		{"NUL in key", "/v/a\x00b", good.Marshal(), ErrInvalidKey},
		{"key too long", "/v/" + strings.Repeat("a", MaxKeyLen+1), good.Marshal(), ErrInvalidKey},
		{"not UTF-8", "/v/\xff", good.Marshal(), ErrInvalidKey},
		{"empty value", "/v/k", nil, ErrMalformed},
		{"unknown format", "/v/k", []byte{9, 1, 2}, ErrMalformed},
		{"truncated", "/v/k", good.Marshal()[:10], ErrMalformed},
		{"trailing bytes", "/v/k", trailing, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := v.Validate(c.key, c.value); !errors.Is(err, c.want) {
				t.Fatalf("Validate = %v, want %v", err, c.want)
			}
		})
	}
}

func TestSelectOrder(t *testing.T) {
	priv := newKey(t)
	v := Validator{MaxValueSize: 64}
	mk := func(version uint64, at int64) []byte {
		return signed(t, priv, Record{Key: "k", Value: []byte("v"), Version: version, WrittenAt: at}).Marshal()
	}
	a, b := mk(1, 5), mk(1, 5)
	sigOrder := 0 // the larger signature wins a tie on version and time
	if bytes.Compare(a[len(a)-64:], b[len(b)-64:]) < 0 {
		sigOrder = 1
	}
	cases := []struct {
		name   string
		values [][]byte
		want   int
	}{
		{"higher version wins", [][]byte{mk(1, 9), mk(2, 1)}, 1},
		{"later write wins on equal versions", [][]byte{mk(3, 2), mk(3, 1)}, 0},
		{"larger signature breaks a full tie", [][]byte{a, b}, sigOrder},
		{"identical records: the first wins", [][]byte{a, a}, 0},
		{"undecodable loses", [][]byte{[]byte("junk"), mk(1, 1)}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := v.Select("/v/k", c.values)
			if err != nil || got != c.want {
				t.Fatalf("Select = %d, %v; want %d", got, err, c.want)
			}
		})
	}
	if _, err := v.Select("/v/k", [][]byte{[]byte("junk")}); err == nil {
		t.Fatal("Select of only junk should fail")
	}
}

// FuzzUnmarshal checks that no input makes the decoder panic and that whatever
// decodes encodes back to the same bytes.
func FuzzUnmarshal(f *testing.F) {
	priv := newKey(f)
	f.Add(signed(f, priv, Record{Key: "k", Value: []byte("value"), Version: 1, WrittenAt: 1}).Marshal())
	f.Add(signed(f, priv, Record{Key: "k", Version: 9, WrittenAt: 2, Deleted: true}).Marshal())
	f.Add([]byte{formatV1})
	f.Add([]byte{formatV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{})
	v := Validator{MaxValueSize: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Unmarshal("k", data)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Marshal(), data) {
			t.Fatalf("decode/encode is not the identity for %x", data)
		}
		_ = v.Validate("/v/k", data) // must not panic
	})
}

// FuzzValidateKey checks the key rules against their definition.
func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"a", "", "a\x00", "\xff", strings.Repeat("x", MaxKeyLen), "a/b/../c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		err := ValidateKey(key)
		ok := len(key) >= 1 && len(key) <= MaxKeyLen && !strings.ContainsRune(key, 0) && isUTF8(key)
		if (err == nil) != ok {
			t.Fatalf("ValidateKey(%q) = %v", key, err)
		}
	})
}

func isUTF8(s string) bool { return strings.ToValidUTF8(s, "\ufffd") == s }
