package edverify

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"filippo.io/edwards25519"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// edgeCase is a key, message and signature with crypto/ed25519's verdict.
type edgeCase struct {
	name          string
	pub, msg, sig []byte
	valid         bool
}

// reference is crypto/ed25519.Verify, false where it panics (a key of the
// wrong length).
func reference(pub, msg, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig)
}

// check is edverify's verdict.
func check(pub, msg, sig []byte) bool {
	k, err := NewKey(pub)
	return err == nil && k.Verify(msg, sig)
}

func scalar(b ...byte) *edwards25519.Scalar {
	var buf [32]byte
	copy(buf[:], b)
	s, err := edwards25519.NewScalar().SetCanonicalBytes(buf[:])
	if err != nil {
		panic(err)
	}
	return s
}

func randomScalar(rng *rand.Rand) *edwards25519.Scalar {
	var buf [64]byte
	for i := 0; i < len(buf); i += 8 {
		binary.LittleEndian.PutUint64(buf[i:], rng.Uint64())
	}
	s, err := edwards25519.NewScalar().SetUniformBytes(buf[:])
	if err != nil {
		panic(err)
	}
	return s
}

// torsion8 returns a point of order 8: the torsion part of a point found
// from random encodings, P - [8⁻¹ mod l]([8]P).
func torsion8(rng *rand.Rand) *edwards25519.Point {
	inv8 := edwards25519.NewScalar().Invert(scalar(8))
	for {
		var enc [32]byte
		for i := 0; i < 32; i += 8 {
			binary.LittleEndian.PutUint64(enc[i:], rng.Uint64())
		}
		p, err := new(edwards25519.Point).SetBytes(enc[:])
		if err != nil {
			continue
		}
		q := new(edwards25519.Point).ScalarMult(inv8, new(edwards25519.Point).MultByCofactor(p))
		t := new(edwards25519.Point).Subtract(p, q)
		four := new(edwards25519.Point).ScalarMult(scalar(4), t)
		if four.Equal(edwards25519.NewIdentityPoint()) == 0 {
			return t
		}
	}
}

// challenge is Ed25519's k = SHA-512(R ‖ A ‖ M) mod l.
func challenge(r, pub, msg []byte) *edwards25519.Scalar {
	h := sha512.New()
	h.Write(r)
	h.Write(pub)
	h.Write(msg)
	k, err := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	if err != nil {
		panic(err)
	}
	return k
}

// mixedSignature signs msg for the key A + T (a = A's secret scalar, T of
// order 8), a key crypto/ed25519 takes: [S]B = R + [k](A + T) holds for
// R = [r]B + [j]T and S = r + k·a when k + j ≡ 0 mod 8, so it draws r and
// j until they do. The check must then compute [k](A + T) with k itself,
// not k's multiple of A alone (a cofactored check).
func mixedSignature(rng *rand.Rand, a *edwards25519.Scalar, t *edwards25519.Point, msg []byte) (pub, sig []byte) {
	pub = new(edwards25519.Point).Add(new(edwards25519.Point).ScalarBaseMult(a), t).Bytes()
	for {
		r := randomScalar(rng)
		j := rng.IntN(8)
		R := new(edwards25519.Point).Add(new(edwards25519.Point).ScalarBaseMult(r),
			new(edwards25519.Point).ScalarMult(scalar(byte(j)), t))
		k := challenge(R.Bytes(), pub, msg)
		if (int(k.Bytes()[0])+j)%8 != 0 {
			continue
		}
		s := edwards25519.NewScalar().MultiplyAdd(k, a, r)
		return pub, append(R.Bytes(), s.Bytes()...)
	}
}

// smallOrderSignature finds a message whose signature (R, S = 0) verifies
// under the small-order key pub: R = -[k]A, with A's encoding as given.
func smallOrderSignature(pub []byte, rEnc func(*edwards25519.Point) []byte) (msg, sig []byte) {
	A, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		panic(err)
	}
	for i := 0; ; i++ {
		msg = binary.LittleEndian.AppendUint32(nil, uint32(i))
		// R depends on k and k on R: try R among A's multiples.
		for j := range 8 {
			R := new(edwards25519.Point).ScalarMult(scalar(byte(j)), A)
			R.Negate(R)
			enc := rEnc(R)
			k := challenge(enc, pub, msg)
			kA := new(edwards25519.Point).ScalarMult(k, A)
			if kA.Negate(kA).Equal(R) == 1 {
				return msg, append(enc, make([]byte, 32)...)
			}
		}
	}
}

// addL returns S + l as 32 little-endian bytes (still below 2^253).
func addL(s []byte) []byte {
	l := []byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	out := make([]byte, 32)
	carry := 0
	for i := range out {
		v := int(s[i]) + int(l[i]) + carry
		out[i], carry = byte(v), v>>8
	}
	return out
}

// edgeCases are the seed corpus: valid signatures and the encodings on
// which Ed25519 verifiers are known to differ.
func edgeCases() []edgeCase {
	rng := rand.New(rand.NewPCG(1, 2))
	var cases []edgeCase
	add := func(name string, pub, msg, sig []byte, valid bool) {
		cases = append(cases, edgeCase{name, bytes.Clone(pub), bytes.Clone(msg), bytes.Clone(sig), valid})
	}
	seed := make([]byte, ed25519.SeedSize)
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	msg := bytes.Repeat([]byte("record "), 160) // about a record's signing bytes
	sig := ed25519.Sign(priv, msg)
	add("valid", pub, msg, sig, true)
	add("empty message", pub, nil, ed25519.Sign(priv, nil), true)
	add("other message", pub, msg[1:], sig, false)
	add("short key", pub[:31], msg, sig, false)
	add("long key", append(bytes.Clone(pub), 0), msg, sig, false)
	add("short signature", pub, msg, sig[:63], false)
	add("long signature", pub, msg, append(bytes.Clone(sig), 0), false)
	for _, bit := range []byte{0x20, 0x40, 0x80} {
		bad := bytes.Clone(sig)
		bad[63] |= bit
		add("high bit of S", pub, msg, bad, false)
	}
	add("S + l", pub, msg, append(bytes.Clone(sig[:32]), addL(sig[32:])...), false)
	for _, i := range []int{0, 31, 32, 63} {
		bad := bytes.Clone(sig)
		bad[i] ^= 1
		add("flipped bit", pub, msg, bad, false)
	}
	notOnCurve := bytes.Clone(pub)
	for {
		if _, err := new(edwards25519.Point).SetBytes(notOnCurve); err != nil {
			break
		}
		notOnCurve[0]++
	}
	add("key off the curve", notOnCurve, msg, sig, false)

	t := torsion8(rng)
	for j := range 3 {
		a := randomScalar(rng)
		tj := new(edwards25519.Point).ScalarMult(scalar(byte(2*j+1)), t)
		mpub, msig := mixedSignature(rng, a, tj, msg)
		add("key with a torsion part", mpub, msg, msig, true)
		bad := bytes.Clone(msig)
		bad[40] ^= 4
		add("key with a torsion part, bad S", mpub, msg, bad, false)
	}
	canonical := func(p *edwards25519.Point) []byte { return p.Bytes() }
	for j := range 8 {
		A := new(edwards25519.Point).ScalarMult(scalar(byte(j)), t)
		apub := A.Bytes()
		smsg, ssig := smallOrderSignature(apub, canonical)
		add("small-order key", apub, smsg, ssig, true)
	}
	// Non-canonical encodings crypto/ed25519 takes for keys and refuses
	// for R: y + p for y < 19, and x = 0 with the sign bit set.
	nonCanonical := func(y byte, sign bool) []byte {
		enc := bytes.Repeat([]byte{0xff}, 32)
		enc[0] = 0xed + y
		enc[31] = 0x7f
		if sign {
			enc[31] |= 0x80
		}
		return enc
	}
	identity := nonCanonical(1, false) // y = p + 1 ≡ 1
	negZero := make([]byte, 32)        // y = 1, x = 0 with the sign bit: "-0"
	negZero[0], negZero[31] = 1, 0x80
	for _, apub := range [][]byte{identity, negZero, nonCanonical(1, true)} {
		smsg, ssig := smallOrderSignature(apub, canonical)
		add("non-canonical identity key", apub, smsg, ssig, true)
		nc := bytes.Clone(ssig)
		copy(nc, identity)
		add("non-canonical R", apub, smsg, nc, false)
	}
	return cases
}

func TestEdgeCasesAgreeWithCryptoEd25519(t *testing.T) {
	for _, c := range edgeCases() {
		if got := reference(c.pub, c.msg, c.sig); got != c.valid {
			t.Fatalf("%s: crypto/ed25519 says %v, the case was built for %v", c.name, got, c.valid)
		}
		if got := check(c.pub, c.msg, c.sig); got != c.valid {
			t.Errorf("%s: crypto/ed25519 says %v, edverify %v", c.name, c.valid, got)
		}
	}
}

// FuzzVerifyMatchesCryptoEd25519 checks that edverify accepts exactly the
// signatures crypto/ed25519.Verify accepts.
func FuzzVerifyMatchesCryptoEd25519(f *testing.F) {
	for _, c := range edgeCases() {
		f.Add(c.pub, c.msg, c.sig)
	}
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		if want, got := reference(pub, msg, sig), check(pub, msg, sig); got != want {
			t.Fatalf("crypto/ed25519 says %v, edverify %v\npub %x\nmsg %x\nsig %x", want, got, pub, msg, sig)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := priv.Public().(ed25519.PublicKey)
	msg := bytes.Repeat([]byte("record "), 160)
	sig := ed25519.Sign(priv, msg)
	b.Run("crypto-ed25519", func(b *testing.B) {
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("invalid")
			}
		}
	})
	k, err := NewKey(pub)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("key", func(b *testing.B) {
		for b.Loop() {
			if !k.Verify(msg, sig) {
				b.Fatal("invalid")
			}
		}
	})
}
