package replication

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Batches: group commit on the wire.
//
// A BATCH request carries several record requests to one peer in one
// message: the op byte opBatch, the uvarint count of sub-requests (1 to
// maxBatch), then each sub-request, exactly what it would be alone, as a
// uvarint length and its bytes. Its answer is statusOK, the uvarint count,
// then each sub-answer, exactly what the sub-request alone would get, as a
// uvarint length and its bytes, in the order of the sub-requests. A
// sub-answer of length 0 means that the holder served the sub-request but
// could not fit its answer in the message (the limit of a single message
// bounds the whole batch both ways): the asker sends that request again
// alone. Only the answers of requests that changed nothing are big (a GET's
// record, the record a CREATE or SWAP found, a referral), so asking again
// is safe.
//
// A malformed batch (a count out of range, a sub-request that is empty, a
// batch inside it, a length past the end or bytes after the last) is
// answered statusInvalid, with nothing served. Each sub-request is charged
// to the peer's request limit (peerlimit.go) and counted (rpcstats.go) as
// one request: one over the limit gets a statusBusy sub-answer.
//
// A holder serves a batch's sub-requests concurrently, batchWorkers at a
// time, but for the CREATEs it carries out: their records are checked
// concurrently too, then written together, in one datastore write
// (Store.CreateBatch: one LevelDB journal record for all of them), and
// none is answered before that write is done. Sub-requests in one batch
// have no order, as requests on separate streams had none.
//
// The client (rpcClient.call) sends a request at once, alone, whenever
// fewer than maxFramesPerPeer messages to the peer are in flight; past
// that, requests queue, and the next sender to finish takes all those
// queued (up to maxBatch and the size limit) as one batch. Nothing waits
// for a batch to fill: with nothing to share, the wire is what it was
// without batches. A peer that answers a batch with statusInvalid (a node
// that predates them: "unknown op") gets single requests for olderRetry,
// then a batch again (it may have been upgraded meanwhile): one refused
// batch, its requests sent again alone, per olderRetry at most.
const (
	maxBatch         = 64
	maxFramesPerPeer = maxIdlePerPeer
	batchWorkers     = 4
	olderRetry       = 10 * time.Minute
)

// errAlone tells a queued caller to send its request again alone: the peer
// does not serve batches, or its answer did not fit in the batch's.
var errAlone = errors.New("send alone")

// errClientClosed fails the requests still queued when the client closes.
var errClientClosed = errors.New("record client closed")

// batchHead is the room a batch message needs besides its sub-requests'
// length prefixes and bytes.
const batchHead = 1 + binary.MaxVarintLen64

// batchItemSize is the room one sub-request or sub-answer of n bytes takes.
func batchItemSize(n int) int { return uvarintLen(uint64(n)) + n }

func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

// encodeBatch builds a BATCH request of reqs.
func encodeBatch(reqs [][]byte) []byte {
	size := batchHead
	for _, r := range reqs {
		size += batchItemSize(len(r))
	}
	b := append(make([]byte, 0, size), opBatch)
	b = binary.AppendUvarint(b, uint64(len(reqs)))
	for _, r := range reqs {
		b = binary.AppendUvarint(b, uint64(len(r)))
		b = append(b, r...)
	}
	return b
}

// decodeBatch splits a BATCH request into its sub-requests, which alias msg.
func decodeBatch(msg []byte) ([][]byte, error) {
	if len(msg) == 0 || msg[0] != opBatch {
		return nil, errors.New("not a batch")
	}
	items, err := splitItems(msg[1:], maxBatch)
	if err != nil {
		return nil, fmt.Errorf("bad batch: %w", err)
	}
	for _, r := range items {
		switch {
		case len(r) == 0:
			return nil, errors.New("bad batch: empty request")
		case r[0] == opBatch:
			return nil, errors.New("bad batch: a batch inside a batch")
		}
	}
	return items, nil
}

// splitItems splits a uvarint count, 1 to most, and that many
// length-prefixed items filling b exactly.
func splitItems(b []byte, most int) ([][]byte, error) {
	n, used := binary.Uvarint(b)
	if used <= 0 || n == 0 || n > uint64(most) {
		return nil, errors.New("count out of range")
	}
	b = b[used:]
	items := make([][]byte, n)
	for i := range items {
		size, used := binary.Uvarint(b)
		if used <= 0 || size > uint64(len(b)-used) {
			return nil, fmt.Errorf("item %d overruns the message", i)
		}
		b = b[used:]
		items[i], b = b[:size:size], b[size:]
	}
	if len(b) > 0 {
		return nil, errors.New("bytes after the last item")
	}
	return items, nil
}

// encodeBatchAnswer builds a batch's answer of at most limit bytes: a
// sub-answer that would take it past limit is left empty (ask again alone).
func encodeBatchAnswer(answers [][]byte, limit int) []byte {
	size := batchHead
	for _, a := range answers {
		size += batchItemSize(len(a))
	}
	b := append(make([]byte, 0, min(size, limit)), statusOK)
	b = binary.AppendUvarint(b, uint64(len(answers)))
	for i, a := range answers {
		// Room for this one and an empty one for each after it.
		if len(b)+batchItemSize(len(a))+len(answers)-i-1 > limit {
			a = nil
		}
		b = binary.AppendUvarint(b, uint64(len(a)))
		b = append(b, a...)
	}
	return b
}

// decodeBatchAnswer splits the answer (status byte included) to a batch of
// n requests into its sub-answers, which alias answer.
func decodeBatchAnswer(answer []byte, n int) ([][]byte, error) {
	if len(answer) == 0 || answer[0] != statusOK {
		return nil, errors.New("not a batch answer")
	}
	items, err := splitItems(answer[1:], maxBatch)
	if err == nil && len(items) != n {
		err = fmt.Errorf("%d answers to %d requests", len(items), n)
	}
	return items, err
}

// serveBatch answers a BATCH request from p. Its CREATEs that this node
// carries out (a holder of the key, a record that decodes) are stored
// together, in one datastore write (Store.CreateBatch); every other
// sub-request is served as it would be alone.
func (sv *rpcServer) serveBatch(p peer.ID, msg []byte) []byte {
	reqs, err := decodeBatch(msg)
	if err != nil {
		answer := append([]byte{statusInvalid}, err.Error()...)
		sv.counts.add(msg, answer)
		return answer
	}
	answers := make([][]byte, len(reqs))
	todo := make([]int, 0, len(reqs))
	for i := range reqs {
		if sv.limits.allow(p) {
			todo = append(todo, i)
		} else {
			answers[i] = []byte{statusBusy}
		}
	}
	recs := make([]*Record, len(todo))
	inParallel(len(todo), batchWorkers, func(j int) {
		recs[j], answers[todo[j]] = sv.toCreate(reqs[todo[j]])
	})
	var creates []int // of reqs
	var batch []*Record
	for j, r := range recs {
		if r != nil {
			creates = append(creates, todo[j])
			batch = append(batch, r)
		}
	}
	if len(batch) > 0 {
		for j, res := range sv.store.CreateBatch(sv.ctx, batch) {
			answers[creates[j]] = encodeConditionalAnswer(res.existing, res.err)
		}
	}
	for i := range reqs {
		sv.counts.add(reqs[i], answers[i])
	}
	return encodeBatchAnswer(answers, sv.limit)
}

// toCreate returns the record of a CREATE request that this node carries
// out, or else the answer to the request, served.
func (sv *rpcServer) toCreate(msg []byte) (*Record, []byte) {
	if msg[0] != opCreate {
		return nil, sv.serve(msg)
	}
	_, key, payload, answer := sv.route(msg)
	if answer != nil {
		return nil, answer
	}
	return unmarshalRequest(key, payload)
}

// inParallel calls f(i) for every i in [0, n), from up to workers
// goroutines (the caller's one of them), and returns when all have
// returned.
func inParallel(n, workers int, f func(i int)) {
	var next atomic.Int64
	work := func() {
		for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
			f(i)
		}
	}
	var wg sync.WaitGroup
	for range min(workers, n) - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
}

// peerQueue is the client's state of the messages to one peer.
type peerQueue struct {
	inflight int // messages in flight (at most maxFramesPerPeer)
	queue    []*queuedCall
	// older is when the peer last refused a batch (zero: never, or
	// more than olderRetry ago): it gets requests alone until then.
	older time.Time
}

// single reports whether requests to q's peer go alone: it refused a
// batch less than olderRetry ago. Past that it forgets the refusal.
func (q *peerQueue) single() bool {
	if !q.older.IsZero() && time.Since(q.older) >= olderRetry {
		q.older = time.Time{}
	}
	return !q.older.IsZero()
}

// queuedCall is a request waiting for a batch. Its state and, until done
// is closed, answer and err are guarded by the client's mu, then
// read-only.
type queuedCall struct {
	ctx    context.Context
	req    []byte
	state  int // queued, taken or abandoned
	done   chan struct{}
	answer []byte
	err    error
}

const (
	callQueued = iota
	callTaken
	callAbandoned // its caller gave up before it was taken
)

// batchStats counts what the client sent: messages, and of them batches
// with the sub-requests they carried.
type batchStats struct {
	messages, batches, batched atomic.Uint64
}

// call sends req to p and returns the answer: alone at once when fewer
// than maxFramesPerPeer messages to p are in flight, else in the next
// batch to p. The caller's ctx bounds its wait; ending it drops its answer
// but not the batch the request went in.
func (c *rpcClient) call(ctx context.Context, p peer.ID, req []byte) ([]byte, error) {
	c.mu.Lock()
	q := c.queueLocked(p)
	if q == nil || q.single() {
		c.mu.Unlock()
		return c.callAlone(ctx, p, req)
	}
	if q.inflight < maxFramesPerPeer {
		q.inflight++
		c.mu.Unlock()
		answer, err := c.callAlone(ctx, p, req)
		c.handOn(p)
		return answer, err
	}
	qc := &queuedCall{ctx: ctx, req: req, done: make(chan struct{})}
	q.queue = append(q.queue, qc)
	c.mu.Unlock()
	select {
	case <-qc.done:
	case <-ctx.Done():
		c.mu.Lock()
		if qc.state == callQueued {
			qc.state = callAbandoned
		}
		c.mu.Unlock()
		return nil, ctx.Err()
	}
	if qc.err == errAlone {
		return c.callAlone(ctx, p, req)
	}
	return qc.answer, qc.err
}

// queueLocked returns p's queue, nil once the client is closed.
func (c *rpcClient) queueLocked(p peer.ID) *peerQueue {
	if c.closed {
		return nil
	}
	if c.queues == nil {
		c.queues = make(map[peer.ID]*peerQueue)
	}
	q := c.queues[p]
	if q == nil {
		q = &peerQueue{}
		c.queues[p] = q
	}
	return q
}

// handOn passes on a message slot to p that a sender is done with: to a
// batch of the requests queued for p, sent from a new goroutine, or back.
func (c *rpcClient) handOn(p peer.ID) {
	c.mu.Lock()
	batch := c.takeLocked(p)
	if batch != nil {
		c.senders.Add(1)
	}
	c.mu.Unlock()
	if batch != nil {
		go c.sendQueued(p, batch)
	}
}

// sendQueued sends batch and then what has queued meanwhile, until the
// queue is empty.
func (c *rpcClient) sendQueued(p peer.ID, batch []*queuedCall) {
	defer c.senders.Done()
	for batch != nil {
		c.sendBatch(p, batch)
		c.mu.Lock()
		batch = c.takeLocked(p)
		c.mu.Unlock()
	}
}

// takeLocked takes the requests queued for p, up to maxBatch and the size
// limit (one, for a peer that does not serve batches), for the caller to
// send in the message slot it holds; none means the slot is given back.
// Once the client is closed it fails them all instead.
func (c *rpcClient) takeLocked(p peer.ID) []*queuedCall {
	q := c.queues[p]
	if q == nil {
		return nil
	}
	var batch []*queuedCall
	size, taken := batchHead, 0
	for _, qc := range q.queue {
		if qc.state == callAbandoned {
			taken++
			continue
		}
		if c.closed {
			qc.state, qc.err = callTaken, errClientClosed
			close(qc.done)
			taken++
			continue
		}
		item := batchItemSize(len(qc.req))
		if len(batch) > 0 && (len(batch) == maxBatch || q.single() || size+item > c.limit) {
			break
		}
		qc.state = callTaken
		batch = append(batch, qc)
		size += item
		taken++
	}
	clear(q.queue[:taken])
	if q.queue = q.queue[taken:]; len(q.queue) == 0 {
		q.queue = nil
	}
	if batch == nil {
		q.inflight--
		if q.inflight == 0 && q.queue == nil && !q.single() {
			delete(c.queues, p)
		}
	}
	return batch
}

// sendBatch sends the taken requests to p, as one batch if there are
// several, and hands each its answer. The batch is bounded by the latest
// of their deadlines and ends early only when all of them have given up
// (or the client closes).
func (c *rpcClient) sendBatch(p peer.ID, batch []*queuedCall) {
	if len(batch) == 1 {
		qc := batch[0]
		qc.answer, qc.err = c.callAlone(qc.ctx, p, qc.req)
		close(qc.done)
		return
	}
	ctx, cancel := c.batchContext(batch)
	reqs := make([][]byte, len(batch))
	for i, qc := range batch {
		reqs[i] = qc.req
	}
	answers, err := c.callBatch(ctx, p, reqs)
	cancel()
	for i, qc := range batch {
		switch {
		case err != nil:
			qc.err = err
		case len(answers[i]) == 0:
			qc.err = errAlone
		default:
			qc.answer = answers[i]
		}
		close(qc.done)
	}
}

// callBatch sends reqs, 2 to maxBatch requests that fit in one message
// together, to p as one batch and returns their answers in order. An empty
// answer means that p served the request but its answer did not fit: the
// caller may send it again alone. errAlone means that p does not serve
// batches (it is then sent single requests for olderRetry).
func (c *rpcClient) callBatch(ctx context.Context, p peer.ID, reqs [][]byte) ([][]byte, error) {
	c.stats.batches.Add(1)
	c.stats.batched.Add(uint64(len(reqs)))
	answer, err := c.callAlone(ctx, p, encodeBatch(reqs))
	switch {
	case err != nil:
		return nil, err
	case answer[0] == statusOK:
		answers, err := decodeBatchAnswer(answer, len(reqs))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errBadAnswer, err)
		}
		return answers, nil
	case answer[0] == statusInvalid: // a peer that does not know batches
		c.mu.Lock()
		if q := c.queueLocked(p); q != nil {
			q.older = time.Now()
		}
		c.mu.Unlock()
		return nil, errAlone
	case answer[0] == statusBusy: // an older peer over its request limit
		answers := make([][]byte, len(reqs))
		for i := range answers {
			answers[i] = answer
		}
		return answers, nil
	}
	return nil, fmt.Errorf("%w: a batch answered with status %d", errBadAnswer, answer[0])
}

// batchContext returns the context of a batch: done at the latest of its
// requests' deadlines (DefaultRPCTimeout for one without), when all of
// their contexts are done, or when the client closes.
func (c *rpcClient) batchContext(batch []*queuedCall) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, qc := range batch {
		d, ok := qc.ctx.Deadline()
		if !ok {
			d = time.Now().Add(DefaultRPCTimeout)
		}
		if d.After(latest) {
			latest = d
		}
	}
	ctx, cancel := context.WithDeadline(c.ctx, latest)
	var left atomic.Int64
	left.Store(int64(len(batch)))
	stops := make([]func() bool, len(batch))
	for i, qc := range batch {
		stops[i] = context.AfterFunc(qc.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}
