package replication

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/protocol"
)

// The sync protocol (/dhtnode/<network>/sync/1.0.0) reconciles the records
// two holders have in some key ranges. One stream carries one session: the
// initiator sends requests, the responder answers each one; the responder
// keeps no state between them but the session's prefixes (those of its
// first request): it serves sessions over overlapping prefixes one after
// the other (syncclaim.go: a later session's first answer waits, bounded,
// for the earlier one to end). Each message is varint-length-prefixed.
//
// A request carries:
//   - groups: each a list of prefixes with the sender's digest of all their
//     records together. The answer to a group is "equal", or the
//     responder's digests of its parts (each prefix of a group of several;
//     the 16 sub-prefixes of a group of one), or, for a group of one whose
//     range holds at most syncEntryMax records on both sides, the
//     responder's entries there (kad ID, version, written-at, digest, size);
//   - records pushed: (user key, wire form), which the responder verifies
//     and stores if they are newer than its own;
//   - wants: kad IDs, under a prefix, of records the initiator asks for.
//
// An answer carries a status byte (statusOK, statusBusy or statusInvalid
// with an error text), the group answers in order, how many pushed records
// it stored, and the wanted records it has (not expired).

// syncProtocolFor is the sync protocol beside a record protocol
// (ProtocolID): /dhtnode/<network>/sync/1.0.0.
func syncProtocolFor(record protocol.ID) protocol.ID {
	return protocol.ID(strings.TrimSuffix(string(record), "/record/1.0.0")) + "/sync/1.0.0"
}

// Bounds of one sync message.
const (
	syncVersion byte = 1
	// syncEntryMax is the most records of a range listed as entries; a
	// range with more is split.
	syncEntryMax = 16
	// syncMaxGroups bounds the groups of a request, syncMaxPrefixes their
	// prefixes, syncMaxWants the wanted kad IDs.
	syncMaxGroups   = 1024
	syncMaxPrefixes = 8192
	syncMaxWants    = 4096
	// syncFrameMin is the least size bound of a message; it grows to hold
	// two records of the largest value.
	syncFrameMin = 4 << 20
	// maxEntrySize bounds the record size an entry may state.
	maxEntrySize = 1 << 30
)

// syncFrameLimit returns the size bound of a sync message for values of up
// to maxValue bytes.
func syncFrameLimit(maxValue int) int { return max(syncFrameMin, 2*(maxValue+messageOverhead)) }

// Group answer kinds.
const (
	groupEqual   byte = 0
	groupParts   byte = 1
	groupEntries byte = 2
)

type syncGroup struct {
	prefixes []prefix
	digest   rangeDigest
}

type syncWant struct {
	prefix prefix
	ids    [][32]byte
	size   int // of the records asked for, as their entries said (not sent)
}

// keyedWire is a record in transit: its user key and wire form.
type keyedWire struct {
	key  string
	wire []byte
}

type syncRequest struct {
	groups []syncGroup
	push   []keyedWire
	want   []syncWant
}

// syncEntry describes one record of a range.
type syncEntry struct {
	id        [32]byte
	version   uint64
	writtenAt int64
	digest    entryDigest
	size      int // of the wire form
}

type groupAnswer struct {
	kind    byte
	parts   []rangeDigest // groupParts
	entries []syncEntry   // groupEntries
}

type syncAnswer struct {
	groups  []groupAnswer
	stored  int // pushed records stored
	records []keyedWire
}

func appendPrefix(b []byte, p prefix) []byte {
	b = binary.AppendUvarint(b, uint64(p.bits))
	return append(b, p.id[:(p.bits+7)/8]...)
}

func appendDigest(b []byte, d rangeDigest) []byte {
	b = binary.AppendUvarint(b, d.count)
	return append(b, d.sum[:]...)
}

func appendKeyed(b []byte, r keyedWire) []byte {
	b = appendBytes(b, []byte(r.key))
	return appendBytes(b, r.wire)
}

// encode returns the request's wire form.
func (q *syncRequest) encode() []byte {
	b := []byte{syncVersion}
	b = binary.AppendUvarint(b, uint64(len(q.groups)))
	for _, g := range q.groups {
		b = binary.AppendUvarint(b, uint64(len(g.prefixes)))
		for _, p := range g.prefixes {
			b = appendPrefix(b, p)
		}
		b = appendDigest(b, g.digest)
	}
	b = binary.AppendUvarint(b, uint64(len(q.push)))
	for _, r := range q.push {
		b = appendKeyed(b, r)
	}
	b = binary.AppendUvarint(b, uint64(len(q.want)))
	for _, w := range q.want {
		b = appendPrefix(b, w.prefix)
		b = binary.AppendUvarint(b, uint64(len(w.ids)))
		for _, id := range w.ids {
			b = append(b, id[:]...)
		}
	}
	return b
}

// encode returns the answer's wire form, after statusOK.
func (a *syncAnswer) encode() []byte {
	b := []byte{statusOK}
	b = binary.AppendUvarint(b, uint64(len(a.groups)))
	for _, g := range a.groups {
		b = append(b, g.kind)
		switch g.kind {
		case groupParts:
			b = binary.AppendUvarint(b, uint64(len(g.parts)))
			for _, d := range g.parts {
				b = appendDigest(b, d)
			}
		case groupEntries:
			b = binary.AppendUvarint(b, uint64(len(g.entries)))
			for _, e := range g.entries {
				b = append(b, e.id[:]...)
				b = binary.AppendUvarint(b, e.version)
				b = binary.AppendVarint(b, e.writtenAt)
				b = append(b, e.digest[:]...)
				b = binary.AppendUvarint(b, uint64(e.size))
			}
		}
	}
	b = binary.AppendUvarint(b, uint64(a.stored))
	b = binary.AppendUvarint(b, uint64(len(a.records)))
	for _, r := range a.records {
		b = appendKeyed(b, r)
	}
	return b
}

// count reads a count of items, each at least minSize bytes, of at most max.
func (d *decoder) count(max, minSize int) int {
	n := d.uvarint()
	if d.err == nil && (n > uint64(max) || n*uint64(minSize) > uint64(len(d.buf))) {
		d.fail("count out of range")
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}

func (d *decoder) fixed(dst []byte) {
	if len(d.buf) < len(dst) {
		d.fail("truncated")
		return
	}
	copy(dst, d.buf)
	d.buf = d.buf[len(dst):]
}

func (d *decoder) prefix() prefix {
	var p prefix
	bits := d.uvarint()
	if d.err == nil && bits > idBits {
		d.fail("prefix too long")
	}
	if d.err != nil {
		return p
	}
	p.bits = int(bits)
	d.fixed(p.id[:(p.bits+7)/8])
	if d.err == nil && prefixOf(p.id[:], p.bits) != p {
		d.fail("prefix has bits set past its length")
	}
	return p
}

func (d *decoder) digest() rangeDigest {
	var r rangeDigest
	r.count = d.uvarint()
	d.fixed(r.sum[:])
	return r
}

func (d *decoder) keyed(maxWire int) keyedWire {
	key := d.bytes(MaxKeyLen)
	return keyedWire{key: string(key), wire: d.bytes(maxWire)}
}

// done reports the decoder's error, or trailing bytes.
func (d *decoder) done(what string) error {
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.buf))
	}
	if d.err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, what, d.err)
	}
	return nil
}

var errSyncVersion = errors.New("unknown sync message version")

// decodeSyncRequest parses a request, within the protocol's bounds.
func decodeSyncRequest(msg []byte) (*syncRequest, error) {
	d := decoder{buf: msg}
	if d.byte() != syncVersion && d.err == nil {
		return nil, errSyncVersion
	}
	q := &syncRequest{}
	prefixes := 0
	for range d.count(syncMaxGroups, 1+1+1+16) {
		n := d.count(syncMaxPrefixes-prefixes, 1)
		prefixes += n
		g := syncGroup{prefixes: make([]prefix, 0, n)}
		for range n {
			g.prefixes = append(g.prefixes, d.prefix())
		}
		g.digest = d.digest()
		if len(g.prefixes) == 0 && d.err == nil {
			d.fail("empty group")
		}
		q.groups = append(q.groups, g)
	}
	for range d.count(len(msg), 2) {
		q.push = append(q.push, d.keyed(len(msg)))
	}
	wants := 0
	for range d.count(syncMaxGroups, 2) {
		w := syncWant{prefix: d.prefix()}
		n := d.count(syncMaxWants-wants, 32)
		wants += n
		w.ids = make([][32]byte, n)
		for i := range w.ids {
			d.fixed(w.ids[i][:])
			if d.err == nil && !w.prefix.contains(w.ids[i][:]) {
				d.fail("wanted ID outside its prefix")
			}
		}
		q.want = append(q.want, w)
	}
	if err := d.done("sync request"); err != nil {
		return nil, err
	}
	return q, nil
}

// decodeSyncAnswer parses an answer with status statusOK to req: each group
// answer must fit its group.
func decodeSyncAnswer(msg []byte, req *syncRequest) (*syncAnswer, error) {
	d := decoder{buf: msg}
	if d.byte() != statusOK && d.err == nil {
		return nil, errors.New("sync answer: not OK")
	}
	a := &syncAnswer{}
	n := d.count(len(req.groups), 1)
	if d.err == nil && n != len(req.groups) {
		d.fail(fmt.Sprintf("%d group answers to %d groups", n, len(req.groups)))
	}
	for i := range n {
		g := groupAnswer{kind: d.byte()}
		switch g.kind {
		case groupEqual:
		case groupParts:
			want := len(req.groups[i].prefixes)
			if want == 1 {
				want = 1 << splitBits(req.groups[i].prefixes[0])
			}
			if m := d.count(want, 17); m != want && d.err == nil {
				d.fail("wrong number of parts")
			}
			for range want {
				if d.err != nil {
					break
				}
				g.parts = append(g.parts, d.digest())
			}
		case groupEntries:
			if len(req.groups[i].prefixes) != 1 {
				d.fail("entries for a group of several prefixes")
				break
			}
			p := req.groups[i].prefixes[0]
			for range d.count(syncEntryMax, 32+1+1+16+1) {
				var e syncEntry
				d.fixed(e.id[:])
				e.version = d.uvarint()
				e.writtenAt = d.varint()
				d.fixed(e.digest[:])
				size := d.uvarint()
				if d.err == nil && (!p.contains(e.id[:]) || size > maxEntrySize) {
					d.fail("entry outside its range, or too large")
				}
				e.size = int(size)
				g.entries = append(g.entries, e)
			}
		default:
			d.fail("unknown group answer")
		}
		a.groups = append(a.groups, g)
	}
	stored := d.uvarint()
	if d.err == nil && stored > uint64(len(req.push)) {
		d.fail("stored more records than were pushed")
	}
	a.stored = int(stored)
	for range d.count(len(msg), 2) {
		a.records = append(a.records, d.keyed(len(msg)))
	}
	if err := d.done("sync answer"); err != nil {
		return nil, err
	}
	return a, nil
}
