// Package edverify checks Ed25519 signatures of keys that sign many
// messages. A Key holds its public key decoded once (a square root in the
// field, ≈ 12 % of crypto/ed25519.Verify's CPU), then checks each signature
// with the same steps as crypto/ed25519.
//
// It accepts exactly what crypto/ed25519.Verify accepts: the same length
// and bit checks, the same key decoding (non-canonical encodings of points
// on the curve taken, points of small order taken), S below the group
// order, and the cofactorless equation [S]B = R + [k]A compared on R's
// encoding, computed by the same code (filippo.io/edwards25519 is the
// standard library's edwards25519). FuzzVerifyMatchesCryptoEd25519 checks
// it against crypto/ed25519: two holders that disagreed on a record's
// validity would be a hole a hostile writer could use, so no batch or
// ZIP-215 verifier.
//
// A table of a key's multiples (a fixed-base comb) halves a check's CPU in
// a microbenchmark but not in a node: 160 KiB of tables per process missed
// the caches, and a profile of 20 nodes on 2 cores showed the same CPU per
// check as crypto/ed25519 (BENCHMARKS.md, session 19).
package edverify

import (
	"bytes"
	"crypto/sha512"
	"errors"

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
	r.VarTimeDoubleScalarBaseMult(hk, &k.negA, s)
	return bytes.Equal(sig[:32], r.Bytes())
}
