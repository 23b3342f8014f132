// Package edverify checks Ed25519 signatures of keys that sign many
// messages. A Key holds its public key decoded once; a Key given a table
// of its multiples (Precompute) checks a signature with about 130 point
// additions instead of crypto/ed25519's 253 doublings and ≈ 70 additions.
//
// It accepts exactly what crypto/ed25519.Verify accepts: the same length
// and bit checks, the same key decoding (non-canonical encodings of points
// on the curve taken, points of small order taken), S below the group
// order, and the cofactorless equation [S]B = R + [k]A compared on R's
// encoding. The multiples [k](-A) and [S]B are the same group elements
// whichever way they are computed, torsion included, so the encodings
// match bit for bit. FuzzVerifyMatchesCryptoEd25519 checks it against
// crypto/ed25519: two holders that disagreed on a record's validity would
// be a hole a hostile writer could use, so no batch or ZIP-215 verifier.
package edverify

import (
	"bytes"
	"crypto/sha512"
	"errors"
	"sync"
	"sync/atomic"

	"filippo.io/edwards25519"
)

// Sizes of an Ed25519 public key and signature, in bytes.
const (
	PublicKeySize = 32
	SignatureSize = 64
)

// ErrBadKey is NewKey's error for a key crypto/ed25519 cannot verify with.
var ErrBadKey = errors.New("edverify: bad Ed25519 public key")

// Key is an Ed25519 public key decoded for checking signatures. It is
// safe for concurrent use.
type Key struct {
	enc  [PublicKeySize]byte // hashed into every check, as given
	negA edwards25519.Point  // the key's point, negated
	comb atomic.Pointer[comb]
	once sync.Once
}

// NewKey decodes pub. It refuses what crypto/ed25519.Verify can never
// accept a signature of: a length other than 32 bytes (where Verify
// panics) and an encoding of no point on the curve.
func NewKey(pub []byte) (*Key, error) {
	if len(pub) != PublicKeySize {
		return nil, ErrBadKey
	}
	a, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil, ErrBadKey
	}
	k := &Key{}
	copy(k.enc[:], pub)
	k.negA.Negate(a)
	return k, nil
}

// Precompute builds k's table of multiples (80 KiB; as long as ≈ 3
// checks), which makes every later check about 1.7× faster. Call it for
// keys that will check many signatures; it is done once.
func (k *Key) Precompute() {
	k.once.Do(func() { k.comb.Store(newComb(&k.negA)) })
}

// Precomputed reports whether Precompute has run.
func (k *Key) Precomputed() bool { return k.comb.Load() != nil }

// Verify reports whether sig is a valid signature of msg by k, exactly as
// crypto/ed25519.Verify(k, msg, sig) does.
func (k *Key) Verify(msg, sig []byte) bool {
	if len(sig) != SignatureSize || sig[63]&224 != 0 {
		return false
	}
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(k.enc[:])
	h.Write(msg)
	var digest [sha512.Size]byte
	hk, err := edwards25519.NewScalar().SetUniformBytes(h.Sum(digest[:0]))
	if err != nil {
		return false // a 64-byte digest always reduces
	}
	s, err := edwards25519.NewScalar().SetCanonicalBytes(sig[32:])
	if err != nil {
		return false
	}
	// [S]B = R + [k]A, computed as [k](-A) + [S]B and compared with R's
	// encoding (a non-canonical R never matches).
	var r edwards25519.Point
	if c := k.comb.Load(); c != nil {
		var sb edwards25519.Point
		c.mult(&r, hk)
		baseComb().mult(&sb, s)
		r.Add(&r, &sb)
	} else {
		r.VarTimeDoubleScalarBaseMult(hk, &k.negA, s)
	}
	return bytes.Equal(sig[:32], r.Bytes())
}

// comb holds j·16^i·P for i < 64 and j = 1..8: with a scalar's signed
// radix-16 digits d_i (|d_i| ≤ 8), [s]P is the sum of ±comb[i][|d_i|-1].
type comb [64][8]edwards25519.Point

func newComb(p *edwards25519.Point) *comb {
	c := new(comb)
	base := new(edwards25519.Point).Set(p)
	for i := range c {
		c[i][0].Set(base)
		for j := 1; j < len(c[i]); j++ {
			c[i][j].Add(&c[i][j-1], base)
		}
		base.Double(&c[i][7]) // 16·base
	}
	return c
}

// baseComb is the comb of the group's generator B.
var baseComb = sync.OnceValue(func() *comb { return newComb(edwards25519.NewGeneratorPoint()) })

// mult sets v = [s]P for the comb's P, in variable time (the scalars of a
// check are public), and returns v.
func (c *comb) mult(v *edwards25519.Point, s *edwards25519.Scalar) *edwards25519.Point {
	d := signedRadix16(s.Bytes())
	v.Set(edwards25519.NewIdentityPoint())
	for i, x := range d {
		switch {
		case x > 0:
			v.Add(v, &c[i][x-1])
		case x < 0:
			v.Subtract(v, &c[i][-x-1])
		}
	}
	return v
}

// signedRadix16 returns digits d_i in [-8, 8] with Σ d_i·16^i = s, for a
// little-endian s below 2^255 (a reduced scalar is below 2^253).
func signedRadix16(s []byte) [64]int8 {
	var d [64]int8
	for i, b := range s[:32] {
		d[2*i] = int8(b & 15)
		d[2*i+1] = int8(b >> 4)
	}
	for i := range 63 {
		carry := (d[i] + 8) >> 4
		d[i] -= carry << 4
		d[i+1] += carry
	}
	return d
}
