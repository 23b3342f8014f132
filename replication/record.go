// Package replication is dhtnode's record layer: the signed record format and
// its validator, the local store, and the manager that keeps k up-to-date
// copies of every record on the k live peers closest to its key.
package replication

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Namespace is the DHT key namespace of dhtnode records: a user key K is
// stored under the DHT key "/v/K".
const Namespace = "v"

// MaxKeyLen is the longest user key, in bytes.
const MaxKeyLen = 512

// formatV1 is the first byte of every encoded record; a new layout gets a new byte.
const formatV1 byte = 1

// signingDomain separates dhtnode record signatures from any other use of the key.
const signingDomain = "dhtnode/record/v1\x00"

// maxSignatureLen bounds the signature field (Ed25519 signatures are 64 bytes).
const maxSignatureLen = 1024

// maxWriterLen bounds the writer field (an Ed25519 peer ID is 38 bytes).
const maxWriterLen = 128

// Record is one version of a user key as stored and exchanged by holders.
// The writer's signature covers the key and every other field.
type Record struct {
	Key       string // user key, without the "/v/" prefix
	Value     []byte
	Version   uint64 // grows by one per write of the key
	WrittenAt int64  // unix nanoseconds
	ExpiresAt int64  // unix nanoseconds; 0 = never
	Deleted   bool   // a tombstone: the key was deleted at this version
	Writer    peer.ID
	Signature []byte
}

// DHTKey returns the DHT key of a user key.
func DHTKey(userKey string) string { return "/" + Namespace + "/" + userKey }

// UserKey returns the user key of a DHT key, or an error if the DHT key is not
// in dhtnode's namespace or the user key is invalid.
func UserKey(dhtKey string) (string, error) {
	rest, ok := strings.CutPrefix(dhtKey, "/"+Namespace+"/")
	if !ok {
		return "", fmt.Errorf("%w: DHT key is not in the /%s/ namespace", ErrInvalidKey, Namespace)
	}
	return rest, ValidateKey(rest)
}

// ValidateKey checks a user key: 1 to MaxKeyLen bytes of UTF-8 without NUL.
func ValidateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidKey, len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidKey)
	case strings.IndexByte(key, 0) >= 0:
		return fmt.Errorf("%w: contains NUL", ErrInvalidKey)
	}
	return nil
}

// Sign sets r.Writer to the key's peer ID and r.Signature to its signature.
func (r *Record) Sign(priv crypto.PrivKey) error {
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		return fmt.Errorf("sign record: %w", err)
	}
	r.Writer = id
	sig, err := priv.Sign(r.signingBytes())
	if err != nil {
		return fmt.Errorf("sign record: %w", err)
	}
	r.Signature = sig
	return nil
}

// Verify checks the signature against the public key embedded in the writer's
// peer ID (Ed25519 peer IDs embed their key).
func (r *Record) Verify() error { return r.verifySigned(r.signingBytes()) }

// verifySigned is Verify given r.signingBytes().
func (r *Record) verifySigned(signed []byte) error {
	pub, err := writerKey(r.Writer)
	if err != nil {
		return err
	}
	return r.verifyBy(pub, signed)
}

// writerKey returns the public key embedded in a writer's peer ID.
func writerKey(w peer.ID) (crypto.PubKey, error) {
	pub, err := w.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: writer %q has no embedded public key", ErrBadSignature, w)
	}
	return pub, nil
}

// verifyBy checks r's signature over signed, r.signingBytes(), against pub,
// the writer's public key.
func (r *Record) verifyBy(pub crypto.PubKey, signed []byte) error {
	ok, err := pub.Verify(signed, r.Signature)
	if err != nil || !ok {
		return ErrBadSignature
	}
	return nil
}

// Expired reports whether the record's expiry time has passed at now (unix ns).
func (r *Record) Expired(now int64) bool { return r.ExpiresAt != 0 && r.ExpiresAt <= now }

// Live reports whether the record should be served as a value: neither a
// tombstone nor expired.
func (r *Record) Live(now int64) bool { return !r.Deleted && !r.Expired(now) }

// Compare orders two versions of one key the same way on every peer (SPEC §1):
// higher Version wins, then later WrittenAt, then larger Signature bytes.
// It returns +1 if r wins over o, -1 if o wins and 0 if they are equal.
func (r *Record) Compare(o *Record) int {
	switch {
	case r.Version != o.Version:
		return cmpOrder(r.Version > o.Version)
	case r.WrittenAt != o.WrittenAt:
		return cmpOrder(r.WrittenAt > o.WrittenAt)
	default:
		return bytes.Compare(r.Signature, o.Signature)
	}
}

func cmpOrder(greater bool) int {
	if greater {
		return 1
	}
	return -1
}

// Marshal encodes the record: a format byte, then version, written_at,
// expires_at, flags, writer, value and signature (varints and
// length-prefixed bytes). The key is not included: it is the DHT key.
func (r *Record) Marshal() []byte { return r.appendMarshal(make([]byte, 0, r.marshalSize())) }

// marshalSize bounds the bytes appendMarshal appends.
func (r *Record) marshalSize() int { return r.fieldsSize() + binary.MaxVarintLen64 + len(r.Signature) }

// appendMarshal appends r's wire form (Marshal) to buf.
func (r *Record) appendMarshal(buf []byte) []byte {
	return appendBytes(r.appendFields(buf), r.Signature)
}

// fieldsSize bounds the bytes appendFields appends.
func (r *Record) fieldsSize() int {
	return 1 + 3*binary.MaxVarintLen64 + 1 + 2*binary.MaxVarintLen64 + len(r.Writer) + len(r.Value)
}

// signingBytes is what the signature covers: a domain tag, the key and every
// encoded field but the signature. It is built in one allocation.
func (r *Record) signingBytes() []byte {
	return r.appendSigningBytes(make([]byte, 0, r.signingSize()))
}

// signingSize bounds the bytes appendSigningBytes appends.
func (r *Record) signingSize() int {
	return len(signingDomain) + binary.MaxVarintLen64 + len(r.Key) + r.fieldsSize()
}

// appendSigningBytes appends r's signingBytes to buf.
func (r *Record) appendSigningBytes(buf []byte) []byte {
	buf = append(buf, signingDomain...)
	buf = binary.AppendUvarint(buf, uint64(len(r.Key)))
	buf = append(buf, r.Key...)
	return r.appendFields(buf)
}

func (r *Record) appendFields(buf []byte) []byte {
	buf = append(buf, formatV1)
	buf = binary.AppendUvarint(buf, r.Version)
	buf = binary.AppendVarint(buf, r.WrittenAt)
	buf = binary.AppendVarint(buf, r.ExpiresAt)
	var flags byte
	if r.Deleted {
		flags |= flagDeleted
	}
	buf = append(buf, flags)
	buf = appendBytes(buf, []byte(r.Writer))
	return appendBytes(buf, r.Value)
}

const flagDeleted byte = 1

func appendBytes(buf, b []byte) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(b)))
	return append(buf, b...)
}

// Unmarshal decodes a record stored under the given user key. It checks the
// layout only; Validator.Validate also checks the signature, size and expiry.
func Unmarshal(key string, data []byte) (*Record, error) {
	d := decoder{buf: data}
	if d.byte() != formatV1 {
		return nil, fmt.Errorf("%w: unknown format", ErrMalformed)
	}
	r := &Record{Key: key}
	r.Version = d.uvarint()
	r.WrittenAt = d.varint()
	r.ExpiresAt = d.varint()
	flags := d.byte()
	writer := d.bytes(maxWriterLen)
	r.Value = d.bytes(len(data))
	r.Signature = d.bytes(maxSignatureLen)
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, d.err)
	}
	if len(d.buf) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.buf))
	}
	if flags&^flagDeleted != 0 {
		return nil, fmt.Errorf("%w: unknown flags %#x", ErrMalformed, flags)
	}
	r.Deleted = flags&flagDeleted != 0
	if r.Deleted && len(r.Value) != 0 {
		return nil, fmt.Errorf("%w: a tombstone carries a value", ErrMalformed)
	}
	id, err := peer.IDFromBytes(writer)
	if err != nil {
		return nil, fmt.Errorf("%w: writer: %v", ErrMalformed, err)
	}
	r.Writer = id
	return r, nil
}

// decoder reads the fields of an encoded record, remembering the first error.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = errors.New(what)
	}
	d.buf = nil
}

func (d *decoder) byte() byte {
	if len(d.buf) < 1 {
		d.fail("truncated")
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) bytes(max int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(max) || n > uint64(len(d.buf)) {
		d.fail("length out of range")
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}
