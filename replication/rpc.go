package replication

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-msgio"
)

// The record protocol moves one holder's copy of a record: GET returns it,
// PUT offers a newer one. It replaces kad-dht's GET_VALUE and PUT_VALUE on
// the data path because those carry what a holder read does not need (20
// closer peers with their addresses in every GET answer, the whole record
// echoed back after a PUT), and because kad-dht sends all requests to a peer
// over one stream, one at a time. Here every request takes an idle stream to
// the peer or opens one, so concurrent requests to a peer do not queue.
//
// Each message is varint-length-prefixed. A request is an op byte, the
// uvarint length of the user key, the key, and for PUT the record's wire
// bytes (Record.Marshal). An answer is a status byte followed by the record
// (GET, statusOK), an error text (statusInvalid, statusFailed) or a referral
// (statusNotHolder, referral.go).
//
// READ and WRITE are GET and PUT asked of the peer as one of the key's k
// holders, by a client read or write that picked it from its own routing
// table: a peer that knows k live peers nearer the key is not a holder, and
// answers with them instead (a referral), so the asker needs no lookup of
// its own when its table has the key's neighbourhood nearly right. Repair,
// hand-off and audits use GET and PUT, which every peer serves, but for a
// PUT of a key the peer is far from: it knows k+holderSlack live peers
// nearer the key, so no repair, hand-off or leave by a node whose table is
// only roughly right would pick it. It answers that PUT with a referral.
//
// CREATE is a WRITE that a holder carries out only if it has no record of
// the key; otherwise it answers with the record it has (statusExists), so a
// round of CREATEs is also a read (Manager.create).
//
// SWAP is a WRITE that a holder carries out only if the record it has, live
// or not, has a lower version (or is the same record); otherwise it answers
// with that record (statusExists). Compare-and-set writes use it (cas.go),
// so that two writers of one version cannot both be acknowledged.
//
// BATCH carries several of the above to one peer in one message, answered
// in one message (rpcbatch.go): the client sends one when requests to the
// peer queue behind others in flight.

const (
	opGet    byte = 1
	opPut    byte = 2
	opRead   byte = 3
	opWrite  byte = 4
	opCreate byte = 5
	opSwap   byte = 6
	opBatch  byte = 8 // rpcbatch.go
)

const (
	statusOK        byte = 0 // GET: the record follows; PUT: stored
	statusNotFound  byte = 1 // GET: no copy
	statusStale     byte = 2 // PUT: a record at least as new is stored
	statusInvalid   byte = 3 // malformed request or record
	statusFailed    byte = 4 // not served: the record failed validation or the store failed
	statusNotHolder byte = 5 // READ, WRITE, CREATE: not a holder; a referral follows
	statusExists    byte = 6 // CREATE, SWAP: not stored; the record the holder has follows
)

// Stream lifetimes: a holder drops a stream idle for serverIdleTimeout
// (between 3/4 of it and all of it: the deadline is pushed back only every
// serverIdleTimeout/4, as setting one costs a timer); a client reuses a
// pooled stream only if it was idle for less than clientIdleTimeout, well
// inside the holder's.
const (
	serverIdleTimeout = 2 * time.Minute
	clientIdleTimeout = time.Minute
	maxIdlePerPeer    = 4
)

// holderSlack is how many more than k live peers nearer a key a peer must
// know before it refuses a PUT of the key: a node's table may not know all
// of a key's holders.
func holderSlack(k int) int { return max(k, 4) }

// messageOverhead is the room a message needs besides the value: key,
// record envelope and framing.
const messageOverhead = 64 << 10

// ProtocolID is the record protocol of a network whose kad-dht protocol
// prefix is prefix (e.g. "/dhtnode/default").
func ProtocolID(prefix protocol.ID) protocol.ID { return prefix + "/record/1.0.0" }

// encodeRequest builds a GET (payload nil) or PUT request.
func encodeRequest(op byte, key string, payload []byte) []byte {
	return append(appendRequestHead(make([]byte, 0, 1+binary.MaxVarintLen64+len(key)+len(payload)), op, key), payload...)
}

// encodeRecordRequest is encodeRequest(op, r.Key, r.Marshal()) in one
// allocation.
func encodeRecordRequest(op byte, r *Record) []byte {
	b := appendRequestHead(make([]byte, 0, 1+binary.MaxVarintLen64+len(r.Key)+r.marshalSize()), op, r.Key)
	return r.appendMarshal(b)
}

// appendRequestHead appends a request's op and key to b.
func appendRequestHead(b []byte, op byte, key string) []byte {
	b = append(b, op)
	b = binary.AppendUvarint(b, uint64(len(key)))
	return append(b, key...)
}

// decodeRequest splits a request into its parts.
func decodeRequest(msg []byte) (op byte, key string, payload []byte, err error) {
	if len(msg) < 2 {
		return 0, "", nil, errors.New("short request")
	}
	op = msg[0]
	n, used := binary.Uvarint(msg[1:])
	if used <= 0 || n > uint64(len(msg)-1-used) {
		return 0, "", nil, errors.New("bad key length")
	}
	start := 1 + used
	return op, string(msg[start : start+int(n)]), msg[start+int(n):], nil
}

// rpcServer answers record requests from the local store.
type rpcServer struct {
	store *Store
	limit int
	heard func(peer.ID) // told of every requester; may be nil
	// nearer returns the k live peers this node knows nearer the key, or
	// nil when it is one of the key's holders; nil means always a holder.
	nearer func(key string) []peer.AddrInfo
	// farFrom is nearer for PUT, with slack (holderSlack): a peer far from
	// the key refuses to store it, so that no one parks records on
	// arbitrary nodes; nil means every PUT is taken.
	farFrom func(key string) []peer.AddrInfo
	ctx     context.Context
	counts  *rpcCounts  // may be nil
	limits  *peerLimits // requests per remote peer (peerlimit.go); nil: none
}

// handle serves requests on s until the peer closes it or stays idle. The
// one deadline covers writes too: an answer waits only if the peer has not
// read the stream's whole flow-control window of earlier answers.
func (sv *rpcServer) handle(s network.Stream) {
	r := msgio.NewVarintReaderSize(s, sv.limit)
	w := msgio.NewVarintWriter(s)
	var deadlineSet time.Time
	for {
		if now := time.Now(); now.Sub(deadlineSet) >= serverIdleTimeout/4 {
			if err := s.SetDeadline(now.Add(serverIdleTimeout)); err != nil {
				s.Reset()
				return
			}
			deadlineSet = now
		}
		msg, err := r.ReadMsg()
		if err != nil {
			s.Reset()
			return
		}
		if sv.heard != nil {
			sv.heard(s.Conn().RemotePeer())
		}
		var answer []byte
		if len(msg) > 0 && msg[0] == opBatch { // rpcbatch.go
			answer = sv.serveBatch(s.Conn().RemotePeer(), msg)
		} else {
			answer = []byte{statusBusy}
			if sv.limits.allow(s.Conn().RemotePeer()) {
				answer = sv.serve(msg)
			}
			sv.counts.add(msg, answer)
		}
		r.ReleaseMsg(msg) // serve keeps no reference to it
		if err := w.WriteMsg(answer); err != nil {
			s.Reset()
			return
		}
	}
}

// serve answers one request.
func (sv *rpcServer) serve(msg []byte) []byte {
	op, key, payload, answer := sv.route(msg)
	if answer != nil {
		return answer
	}
	switch op {
	case opGet:
		data, err := sv.store.getBytes(sv.ctx, key)
		switch {
		case err != nil:
			return append([]byte{statusFailed}, err.Error()...)
		case data == nil && sv.store.isSetAside(sv.ctx, key): // stale.go
			return []byte{statusSetAside}
		case data == nil:
			return []byte{statusNotFound}
		}
		return append([]byte{statusOK}, data...)
	case opPut:
		rec, answer := unmarshalRequest(key, payload)
		if answer != nil {
			return answer
		}
		stored, err := sv.store.Put(sv.ctx, rec) // validates it in full
		switch {
		case err != nil:
			return append([]byte{statusFailed}, err.Error()...)
		case !stored:
			return []byte{statusStale}
		}
		return []byte{statusOK}
	case opCreate, opSwap:
		rec, answer := unmarshalRequest(key, payload)
		if answer != nil {
			return answer
		}
		return encodeConditionalAnswer(sv.store.conditional(sv.ctx, rec, op))
	}
	return append([]byte{statusInvalid}, fmt.Sprintf("unknown op %d", op)...)
}

// route decodes a request and checks that this node serves it. It returns
// the request's parts, READ and WRITE as GET and PUT, or else the answer:
// a malformed request's, or a referral from a peer that is not a holder
// of the key.
func (sv *rpcServer) route(msg []byte) (op byte, key string, payload, answer []byte) {
	op, key, payload, err := decodeRequest(msg)
	if err == nil {
		err = ValidateKey(key)
	}
	if err != nil {
		return 0, "", nil, append([]byte{statusInvalid}, err.Error()...)
	}
	if op == opPut && sv.farFrom != nil {
		if nearer := sv.farFrom(key); nearer != nil {
			return 0, "", nil, encodeReferral([]byte{statusNotHolder}, nearer)
		}
	}
	if op == opRead || op == opWrite || op == opCreate || op == opSwap {
		if sv.nearer != nil {
			if nearer := sv.nearer(key); nearer != nil {
				return 0, "", nil, encodeReferral([]byte{statusNotHolder}, nearer)
			}
		}
		if op == opRead || op == opWrite {
			op -= opRead - opGet // served as GET or PUT
		}
	}
	return op, key, payload, nil
}

// unmarshalRequest decodes the record of a PUT, CREATE or SWAP request,
// or returns the answer to one that does not decode.
func unmarshalRequest(key string, payload []byte) (*Record, []byte) {
	rec, err := Unmarshal(key, payload)
	if err != nil {
		return nil, append([]byte{statusInvalid}, err.Error()...)
	}
	return rec, nil
}

// encodeConditionalAnswer is the answer to a CREATE or SWAP that found existing
// (nil: stored) or failed with err.
func encodeConditionalAnswer(existing []byte, err error) []byte {
	switch {
	case err != nil:
		return append([]byte{statusFailed}, err.Error()...)
	case existing != nil:
		return append([]byte{statusExists}, existing...)
	}
	return []byte{statusOK}
}

// rpcClient sends record requests, keeping a few idle streams per peer,
// and batches concurrent requests to a peer (rpcbatch.go).
type rpcClient struct {
	h     host.Host
	proto protocol.ID
	limit int
	heard func(peer.ID) // told of every peer that answered; may be nil

	ctx     context.Context // ends when the client closes: batches in flight stop
	cancel  context.CancelFunc
	senders sync.WaitGroup // goroutines sending batches
	stats   batchStats

	mu     sync.Mutex
	idle   map[peer.ID][]*rpcStream
	queues map[peer.ID]*peerQueue // peers with messages in flight, or that do not serve batches
	closed bool
}

// newRPCClient returns a client of the record protocol proto whose
// messages are at most limit bytes.
func newRPCClient(h host.Host, proto protocol.ID, limit int, heard func(peer.ID)) *rpcClient {
	ctx, cancel := context.WithCancel(context.Background())
	return &rpcClient{h: h, proto: proto, limit: limit, heard: heard, ctx: ctx, cancel: cancel,
		idle: make(map[peer.ID][]*rpcStream), queues: make(map[peer.ID]*peerQueue)}
}

type rpcStream struct {
	s      network.Stream
	r      msgio.Reader
	w      msgio.Writer
	idleAt time.Time
}

// callAlone sends req to p as one message and returns the answer. A pooled
// stream that fails (its connection may have closed since) is retried once
// on a new stream.
func (c *rpcClient) callAlone(ctx context.Context, p peer.ID, req []byte) ([]byte, error) {
	c.stats.messages.Add(1)
	for {
		rs, pooled, err := c.stream(ctx, p)
		if err != nil {
			return nil, err
		}
		answer, reusable, err := rs.roundTrip(ctx, req)
		if err == nil {
			if reusable {
				c.release(p, rs)
			} else {
				rs.s.Reset()
			}
			if c.heard != nil {
				c.heard(p)
			}
			return answer, nil
		}
		rs.s.Reset()
		if !pooled || ctx.Err() != nil {
			return nil, err
		}
	}
}

// stream returns an idle stream to p, or a new one.
func (c *rpcClient) stream(ctx context.Context, p peer.ID) (*rpcStream, bool, error) {
	now := time.Now()
	c.mu.Lock()
	for q := c.idle[p]; len(q) > 0; q = c.idle[p] {
		rs := q[len(q)-1]
		c.idle[p] = q[:len(q)-1]
		if now.Sub(rs.idleAt) < clientIdleTimeout {
			c.mu.Unlock()
			return rs, true, nil
		}
		rs.s.Reset()
	}
	c.mu.Unlock()
	s, err := c.h.NewStream(ctx, p, c.proto)
	if err != nil {
		return nil, false, err
	}
	return &rpcStream{s: s, r: msgio.NewVarintReaderSize(s, c.limit), w: msgio.NewVarintWriter(s)}, false, nil
}

// release returns a stream that completed a request to the pool.
func (c *rpcClient) release(p peer.ID, rs *rpcStream) {
	rs.idleAt = time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.idle == nil || len(c.idle[p]) >= maxIdlePerPeer {
		rs.s.Close()
		return
	}
	c.idle[p] = append(c.idle[p], rs)
}

// close resets every pooled stream, ends the batches in flight, fails the
// requests queued for one and waits for their senders; later releases
// close their stream, and later calls are sent alone.
func (c *rpcClient) close() {
	c.mu.Lock()
	for _, q := range c.idle {
		for _, rs := range q {
			rs.s.Reset()
		}
	}
	c.idle = nil
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.senders.Wait()
}

// roundTrip writes req and reads the answer, within ctx: when ctx ends, the
// stream's deadline is set to the past, which fails its pending read or write.
// Without a deadline in ctx, the call is bounded by DefaultRPCTimeout.
// reusable is false when ctx ended during the call, even if the answer
// came: the stream may have been given that past deadline.
func (rs *rpcStream) roundTrip(ctx context.Context, req []byte) (answer []byte, reusable bool, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultRPCTimeout)
		defer cancel()
	}
	stop := context.AfterFunc(ctx, func() { rs.s.SetDeadline(time.Now()) })
	if err = rs.w.WriteMsg(req); err == nil {
		answer, err = rs.r.ReadMsg()
	}
	reusable = stop()
	if err == nil && len(answer) == 0 {
		err = errors.New("empty answer")
	}
	return answer, reusable, err
}
