package replication

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-msgio"
)

// holdGate holds a record server's CREATEs (through its holder check) of
// the keys it is told to hold until they are released.
type holdGate struct {
	mu      sync.Mutex
	held    map[string]chan struct{}
	entered chan string // keys whose requests are being held
}

func newHoldGate(t *testing.T) *holdGate {
	g := &holdGate{held: make(map[string]chan struct{}), entered: make(chan string, 1024)}
	return g
}

func (g *holdGate) hold(keys ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, k := range keys {
		g.held[k] = make(chan struct{})
	}
}

func (g *holdGate) release(keys ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, k := range keys {
		if ch := g.held[k]; ch != nil {
			close(ch)
			delete(g.held, k)
		}
	}
}

func (g *holdGate) releaseAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, ch := range g.held {
		close(ch)
		delete(g.held, k)
	}
}

// nearer is the server's holder check: a holder of every key, once the key
// is released.
func (g *holdGate) nearer(key string) []peer.AddrInfo {
	g.mu.Lock()
	ch := g.held[key]
	g.mu.Unlock()
	if ch != nil {
		g.entered <- key
		<-ch
	}
	return nil
}

// waitEntered waits for the server to be holding n requests.
func (g *holdGate) waitEntered(t *testing.T, n int) []string {
	t.Helper()
	var keys []string
	timeout := time.After(10 * time.Second)
	for range n {
		select {
		case k := <-g.entered:
			keys = append(keys, k)
		case <-timeout:
			t.Fatalf("the server holds %v, want %d requests", keys, n)
		}
	}
	return keys
}

// waitFor polls cond until it holds, failing t after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// queued returns how many requests to p wait for a batch.
func (c *rpcClient) queued(p peer.ID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	if q := c.queues[p]; q != nil {
		for _, qc := range q.queue {
			if qc.state == callQueued {
				n++
			}
		}
	}
	return n
}

// idleQueues reports whether the client has nothing in flight or queued.
func (c *rpcClient) idleQueues() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, q := range c.queues {
		if q.inflight > 0 || len(q.queue) > 0 {
			return false
		}
	}
	return true
}

type createResult struct {
	have *Record
	err  error
}

// startCreate sends a CREATE of rec to p from a new goroutine.
func startCreate(ctx context.Context, wg *sync.WaitGroup, tr *transport, p peer.ID, rec *Record) <-chan createResult {
	out := make(chan createResult, 1)
	wg.Go(func() {
		have, err := tr.conditional(ctx, p, rec, opCreate)
		out <- createResult{have, err}
	})
	return out
}

// occupyFrames takes every message slot to the server: it holds keys a0,
// a1, ... at the gate, starts a request of each (start) and waits until the
// server has them all.
func occupyFrames[T any](t *testing.T, g *holdGate, start func(key string) T) []T {
	t.Helper()
	out := make([]T, maxFramesPerPeer)
	for i := range out {
		key := fmt.Sprintf("a%d", i)
		g.hold(key)
		out[i] = start(key)
	}
	g.waitEntered(t, maxFramesPerPeer)
	return out
}

// Concurrent requests to one peer past maxFramesPerPeer in flight go out
// as batches, and each caller gets its own answer.
func TestRecordBatchSharesMessages(t *testing.T) {
	g := newHoldGate(t)
	p := newRPCPair(t, g.nearer)
	t.Cleanup(g.releaseAll)
	tr := &transport{self: "not-the-server", store: p.store, client: p.client}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id := p.server.ID()
	priv, other := newKey(t), newKey(t)
	now := time.Now().UnixNano()
	rec := func(key string, v uint64) *Record {
		return signed(t, priv, Record{Key: key, Value: []byte(key), Version: v, WrittenAt: now})
	}

	// The first maxFramesPerPeer go out alone and are held by the server.
	var wg sync.WaitGroup
	first := occupyFrames(t, g, func(key string) <-chan createResult {
		return startCreate(ctx, &wg, tr, id, rec(key, 1))
	})
	// The rest queue; every third key has a record already, which its
	// CREATE must get back.
	const queuedCalls = 60
	existing := make(map[string]*Record)
	results := make(map[string]<-chan createResult)
	for i := range queuedCalls {
		k := fmt.Sprintf("b%d", i)
		if i%3 == 0 {
			existing[k] = signed(t, other, Record{Key: k, Value: []byte("old"), Version: 7, WrittenAt: now})
			if stored, err := p.store.Put(ctx, existing[k]); err != nil || !stored {
				t.Fatalf("storing %s: %v", k, err)
			}
		}
		results[k] = startCreate(ctx, &wg, tr, id, rec(k, 1))
	}
	waitFor(t, "the calls to queue", func() bool { return p.client.queued(id) == queuedCalls })
	g.releaseAll()
	for _, ch := range first {
		if r := <-ch; r.err != nil || r.have != nil {
			t.Fatalf("a lone CREATE = %v, %v", r.have, r.err)
		}
	}
	for k, ch := range results {
		r := <-ch
		switch want := existing[k]; {
		case r.err != nil:
			t.Fatalf("CREATE of %s: %v", k, r.err)
		case want == nil && r.have != nil:
			t.Fatalf("CREATE of a fresh %s got back %v", k, r.have)
		case want != nil && (r.have == nil || r.have.Compare(want) != 0 || !bytes.Equal(r.have.Value, want.Value)):
			t.Fatalf("CREATE of %s got back %v, want the stored %v", k, r.have, want)
		}
		if got, _ := p.store.Get(ctx, k); got == nil || (existing[k] == nil && got.Compare(rec(k, 1)) != 0) {
			t.Fatalf("%s stored as %v", k, got)
		}
	}
	wg.Wait()
	messages, batches, batched := p.client.stats.messages.Load(), p.client.stats.batches.Load(), p.client.stats.batched.Load()
	if batched != queuedCalls || messages >= maxFramesPerPeer+queuedCalls || batches == 0 {
		t.Fatalf("%d messages, %d batches carrying %d requests, for %d calls; want the %d queued calls in batches",
			messages, batches, batched, maxFramesPerPeer+queuedCalls, queuedCalls)
	}
	waitFor(t, "the client to go idle", p.client.idleQueues)
}

// A caller that gives up, while its request waits for a batch or is in one,
// gets its context's error at once; the batch goes on for the others.
func TestRecordBatchCancelledCaller(t *testing.T) {
	g := newHoldGate(t)
	p := newRPCPair(t, g.nearer)
	t.Cleanup(g.releaseAll)
	tr := &transport{self: "not-the-server", store: p.store, client: p.client}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id := p.server.ID()
	priv := newKey(t)
	now := time.Now().UnixNano()
	rec := func(key string) *Record {
		return signed(t, priv, Record{Key: key, Value: []byte(key), Version: 1, WrittenAt: now})
	}
	var wg sync.WaitGroup
	lone := occupyFrames(t, g, func(key string) <-chan createResult {
		return startCreate(ctx, &wg, tr, id, rec(key))
	})
	g.hold("b0")
	var batch []<-chan createResult
	ctxB1, cancelB1 := context.WithCancel(ctx)
	defer cancelB1()
	for i := range 10 {
		cctx := ctx
		if i == 1 {
			cctx = ctxB1
		}
		batch = append(batch, startCreate(cctx, &wg, tr, id, rec(fmt.Sprintf("b%d", i))))
	}
	waitFor(t, "the calls to queue", func() bool { return p.client.queued(id) == 10 })
	g.release("a0") // its slot takes b0..b9 as one batch, which the server holds at b0
	if r := <-lone[0]; r.err != nil {
		t.Fatal(r.err)
	}
	if k := g.waitEntered(t, 1); k[0] != "b0" {
		t.Fatalf("the server holds %s, want b0", k[0])
	}

	cancelB1() // in the batch in flight
	select {
	case r := <-batch[1]:
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("a cancelled caller in a batch got %v, %v; want context.Canceled", r.have, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled caller in a batch waited for the batch")
	}
	ctxC0, cancelC0 := context.WithCancel(ctx)
	c0 := startCreate(ctxC0, &wg, tr, id, rec("c0")) // queued: all slots are taken
	waitFor(t, "c0 to queue", func() bool { return p.client.queued(id) == 1 })
	cancelC0()
	if r := <-c0; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("a cancelled queued caller got %v, %v; want context.Canceled", r.have, r.err)
	}

	g.releaseAll()
	for i, ch := range batch {
		if i == 1 {
			continue
		}
		if r := <-ch; r.err != nil || r.have != nil {
			t.Fatalf("b%d: %v, %v", i, r.have, r.err)
		}
	}
	for _, ch := range lone[1:] {
		if r := <-ch; r.err != nil {
			t.Fatal(r.err)
		}
	}
	wg.Wait()
	// b1's caller left, but the batch it was in was served in full; c0
	// left before it was sent.
	if got, _ := p.store.Get(ctx, "b1"); got == nil {
		t.Fatal("cancelling one caller cancelled its batch")
	}
	if got, _ := p.store.Get(ctx, "c0"); got != nil {
		t.Fatal("a request abandoned in the queue was sent")
	}
	waitFor(t, "the client to go idle", p.client.idleQueues)
}

// legacyHandler serves the record protocol as nodes before batches did:
// a batch is an unknown op.
func legacyHandler(sv *rpcServer) network.StreamHandler {
	return func(s network.Stream) {
		defer s.Reset()
		r, w := msgio.NewVarintReaderSize(s, sv.limit), msgio.NewVarintWriter(s)
		for {
			msg, err := r.ReadMsg()
			if err != nil {
				return
			}
			answer := sv.serve(msg)
			r.ReleaseMsg(msg)
			if err := w.WriteMsg(answer); err != nil {
				return
			}
		}
	}
}

// A peer that does not know batches gets the batched requests again alone,
// and single requests from then on, for olderRetry (TestOlderPeerRetried).
func TestRecordBatchOlderPeer(t *testing.T) {
	g := newHoldGate(t)
	p := newRPCPair(t, nil)
	t.Cleanup(g.releaseAll)
	p.server.SetStreamHandler(testProto, legacyHandler(&rpcServer{store: p.store, limit: 1024 + messageOverhead, nearer: g.nearer, ctx: context.Background()}))
	tr := &transport{self: "not-the-server", store: p.store, client: p.client}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id := p.server.ID()
	priv := newKey(t)
	now := time.Now().UnixNano()
	rec := func(key string) *Record {
		return signed(t, priv, Record{Key: key, Value: []byte(key), Version: 1, WrittenAt: now})
	}
	var wg sync.WaitGroup
	all := occupyFrames(t, g, func(key string) <-chan createResult {
		return startCreate(ctx, &wg, tr, id, rec(key))
	})
	for i := range 10 {
		all = append(all, startCreate(ctx, &wg, tr, id, rec(fmt.Sprintf("b%d", i))))
	}
	waitFor(t, "the calls to queue", func() bool { return p.client.queued(id) == 10 })
	g.releaseAll()
	for _, ch := range all {
		if r := <-ch; r.err != nil || r.have != nil {
			t.Fatalf("CREATE to an older peer: %v, %v", r.have, r.err)
		}
	}
	if b := p.client.stats.batches.Load(); b != 1 {
		t.Fatalf("%d batches sent, want 1 (refused)", b)
	}
	// From now on, requests to it go out alone, however many.
	all = all[:0]
	for i := range 3 * maxFramesPerPeer {
		all = append(all, startCreate(ctx, &wg, tr, id, rec(fmt.Sprintf("c%d", i))))
	}
	for _, ch := range all {
		if r := <-ch; r.err != nil || r.have != nil {
			t.Fatalf("CREATE to an older peer: %v, %v", r.have, r.err)
		}
	}
	wg.Wait()
	if b := p.client.stats.batches.Load(); b != 1 {
		t.Fatalf("%d batches sent to a peer that refused one, want 1", b)
	}
	for i := range 10 {
		if got, _ := p.store.Get(ctx, fmt.Sprintf("b%d", i)); got == nil {
			t.Fatalf("b%d was not stored", i)
		}
	}
	p.client.mu.Lock()
	defer p.client.mu.Unlock()
	if q := p.client.queues[id]; q == nil || !q.single() {
		t.Fatal("the client forgot that the peer refused a batch")
	}
}

// A peer's refusal of a batch is forgotten olderRetry later: it may have
// been upgraded, and its requests may share messages again.
func TestOlderPeerRetried(t *testing.T) {
	q := &peerQueue{older: time.Now()}
	if !q.single() {
		t.Fatal("a peer that just refused a batch gets batches")
	}
	q.older = time.Now().Add(-olderRetry)
	if q.single() || !q.older.IsZero() {
		t.Fatalf("a refusal %v old is kept", olderRetry)
	}
}

// batchReqs returns n CREATE requests of fresh keys prefix0...
func batchReqs(t *testing.T, prefix string, n int) [][]byte {
	priv := newKey(t)
	now := time.Now().UnixNano()
	reqs := make([][]byte, n)
	for i := range reqs {
		reqs[i] = encodeRecordRequest(opCreate, signed(t, priv, Record{Key: fmt.Sprintf("%s%d", prefix, i), Value: []byte("v"), Version: 1, WrittenAt: now}))
	}
	return reqs
}

// Malformed batches are answered statusInvalid with nothing served; an
// oversize one is refused like any oversize message.
func TestRecordBatchRefusesMalformed(t *testing.T) {
	p := newRPCPair(t, nil)
	counts := new(rpcCounts)
	p.server.SetStreamHandler(testProto, (&rpcServer{store: p.store, limit: 1024 + messageOverhead, ctx: context.Background(), counts: counts}).handle)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := p.client.h.NewStream(ctx, p.server.ID(), testProto)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	w, r := msgio.NewVarintWriter(s), msgio.NewVarintReaderSize(s, 1<<20)
	reqs := batchReqs(t, "m", maxBatch+1)
	two := encodeBatch(reqs[:2])
	cases := []struct {
		name string
		msg  []byte
	}{
		{"no count", []byte{opBatch}},
		{"no requests", []byte{opBatch, 0}},
		{"too many", encodeBatch(reqs)},
		{"nested", encodeBatch([][]byte{encodeBatch(reqs[:1]), reqs[1]})},
		{"truncated", two[:len(two)-1]},
		{"bytes after", append(bytes.Clone(two), 0)},
		{"count past the requests", append([]byte{opBatch, 3}, two[2:]...)},
		{"empty request", encodeBatch([][]byte{reqs[0], {}})},
		{"length overrun", []byte{opBatch, 1, 0xff, 0xff, 0x03, opGet}},
	}
	for _, c := range cases {
		if err := w.WriteMsg(c.msg); err != nil {
			t.Fatalf("%s: write: %v", c.name, err)
		}
		answer, err := r.ReadMsg()
		if err != nil || len(answer) == 0 || answer[0] != statusInvalid {
			t.Fatalf("%s: answer %q, %v; want statusInvalid on a stream that stays open", c.name, answer, err)
		}
	}
	if n, _ := p.store.Counts(); n != 0 {
		t.Fatalf("%d records stored from malformed batches", n)
	}
	if got := counts[0][statusInvalid].Load(); got != uint64(len(cases)) {
		t.Fatalf("%d malformed batches counted invalid, want %d", got, len(cases))
	}
	// One byte over the message limit: the server drops the stream.
	big := signed(t, newKey(t), Record{Key: "big", Value: make([]byte, 1024), Version: 1, WrittenAt: time.Now().UnixNano()})
	var over [][]byte
	for size := 0; size <= 1024+messageOverhead; size += len(encodeRecordRequest(opPut, big)) + 2 {
		over = append(over, encodeRecordRequest(opPut, big))
	}
	if len(over) > maxBatch {
		t.Fatalf("%d requests to go over the limit", len(over))
	}
	if err := w.WriteMsg(encodeBatch(over)); err == nil {
		if answer, err := r.ReadMsg(); err == nil {
			t.Fatalf("an oversize batch was answered %q", answer)
		}
	}
	if n, _ := p.store.Counts(); n != 0 {
		t.Fatalf("%d records stored from an oversize batch", n)
	}
}

// Every request in a batch is charged to the peer's request limit and
// counted as a request.
func TestRecordBatchChargesEachRequest(t *testing.T) {
	p := newRPCPair(t, nil)
	counts := new(rpcCounts)
	const burst = 10
	p.server.SetStreamHandler(testProto, (&rpcServer{store: p.store, limit: 1024 + messageOverhead, ctx: context.Background(),
		counts: counts, limits: newPeerLimits(0.001, burst)}).handle)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reqs := make([][]byte, 3*burst)
	for i := range reqs {
		reqs[i] = encodeRequest(opGet, fmt.Sprintf("k%d", i), nil)
	}
	answer, err := p.client.callAlone(ctx, p.server.ID(), encodeBatch(reqs))
	if err != nil {
		t.Fatal(err)
	}
	answers, err := decodeBatchAnswer(answer, len(reqs))
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range answers {
		want := statusNotFound
		if i >= burst {
			want = statusBusy
		}
		if len(a) == 0 || a[0] != want {
			t.Fatalf("answer %d is %q, want status %d", i, a, want)
		}
	}
	if got, busy := counts[opGet][statusNotFound].Load(), counts[opGet][statusBusy].Load(); got != burst || busy != 2*burst {
		t.Fatalf("counted %d served and %d busy GETs, want %d and %d", got, busy, burst, 2*burst)
	}
	if answer, err := p.client.callAlone(ctx, p.server.ID(), reqs[0]); err != nil || answer[0] != statusBusy {
		t.Fatalf("a request after the batch used up the burst: %q, %v; want busy", answer, err)
	}
}

// A batch's answer stays within the message limit: the sub-answers that do
// not fit are left empty, for their askers to ask again alone.
func TestBatchAnswerFitsTheLimit(t *testing.T) {
	answers := [][]byte{
		append([]byte{statusOK}, make([]byte, 100)...),
		{statusNotFound},
		append([]byte{statusExists}, make([]byte, 100)...),
		{statusOK},
	}
	for _, limit := range []int{1 << 20, 150, 120, 10} {
		msg := encodeBatchAnswer(answers, limit)
		if len(msg) > max(limit, 2+len(answers)) {
			t.Fatalf("limit %d: answer of %d bytes", limit, len(msg))
		}
		got, err := decodeBatchAnswer(msg, len(answers))
		if err != nil {
			t.Fatalf("limit %d: %v", limit, err)
		}
		for i := range got {
			if len(got[i]) > 0 && !bytes.Equal(got[i], answers[i]) {
				t.Fatalf("limit %d: answer %d is %x, want %x", limit, i, got[i], answers[i])
			}
			if limit == 1<<20 && len(got[i]) == 0 {
				t.Fatalf("answer %d left out with room for all", i)
			}
		}
		if limit == 150 && (len(got[0]) == 0 || len(got[2]) > 0 || len(got[3]) == 0) {
			t.Fatalf("limit 150: answers of %d, %d, %d, %d bytes; want the second big one left out", len(got[0]), len(got[1]), len(got[2]), len(got[3]))
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	reqs := [][]byte{encodeRequest(opGet, "k", nil), encodeRequest(opPut, "dir/key", []byte("payload"))}
	f.Add(encodeBatch(reqs))
	f.Add(encodeBatch(reqs[:1]))
	f.Add(encodeBatch([][]byte{encodeBatch(reqs), reqs[0]}))
	f.Add([]byte{opBatch, 0})
	f.Add([]byte{opBatch, 65})
	f.Add([]byte{opBatch, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		items, err := decodeBatch(msg)
		if err != nil {
			return
		}
		if len(items) == 0 || len(items) > maxBatch {
			t.Fatalf("%d requests decoded", len(items))
		}
		again, err := decodeBatch(encodeBatch(items))
		if err != nil || len(again) != len(items) {
			t.Fatalf("re-encoding %x does not decode: %v", msg, err)
		}
		for i := range items {
			if len(items[i]) == 0 || items[i][0] == opBatch || !bytes.Equal(again[i], items[i]) {
				t.Fatalf("request %d of %x: %x, again %x", i, msg, items[i], again[i])
			}
		}
	})
}

// FuzzServeBatch drives the server's batch path with arbitrary messages: it
// never panics, answers a malformed batch statusInvalid with nothing
// stored, and answers a well-formed one with one sub-answer per request.
func FuzzServeBatch(f *testing.F) {
	priv := newKey(f)
	now := time.Now().UnixNano()
	good := signed(f, priv, Record{Key: "k", Value: []byte("v"), Version: 1, WrittenAt: now})
	f.Add(encodeBatch([][]byte{encodeRequest(opCreate, "k", good.Marshal()), encodeRequest(opGet, "k", nil)}))
	f.Add(encodeBatch([][]byte{encodeRequest(opPut, "k", good.Marshal()), encodeRequest(9, "k", nil), {opGet}}))
	f.Add(encodeBatch([][]byte{encodeBatch([][]byte{encodeRequest(opPut, "k", good.Marshal())})}))
	f.Add([]byte{opBatch, 2, 1, opGet})
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) == 0 || msg[0] != opBatch {
			return
		}
		store := newMemStore(t, NewValidator(64))
		sv := &rpcServer{store: store, limit: 64 + messageOverhead, ctx: context.Background()}
		answer := sv.serveBatch("asker", msg)
		reqs, err := decodeBatch(msg)
		if err != nil {
			if n, _ := store.Counts(); len(answer) == 0 || answer[0] != statusInvalid || n != 0 {
				t.Fatalf("answer %x (%d stored) to a malformed batch %x", answer, n, msg)
			}
			return
		}
		answers, err := decodeBatchAnswer(answer, len(reqs))
		if err != nil {
			t.Fatalf("answer %x to %x: %v", answer, msg, err)
		}
		for i, a := range answers {
			if len(a) == 0 {
				t.Fatalf("answer %d to %x is empty with room to spare", i, msg)
			}
		}
	})
}

// The answers that do not fit in a batch's answer are asked for again
// alone, and every caller gets its record.
func TestRecordBatchAnswersOverTheLimit(t *testing.T) {
	g := newHoldGate(t)
	p := newRPCPair(t, g.nearer)
	t.Cleanup(g.releaseAll)
	tr := &transport{self: "not-the-server", store: p.store, client: p.client}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id := p.server.ID()
	priv := newKey(t)
	now := time.Now().UnixNano()
	recs := make(map[string]*Record)
	for i := range maxBatch {
		k := fmt.Sprintf("b%d", i)
		recs[k] = signed(t, priv, Record{Key: k, Value: bytes.Repeat([]byte{byte(i)}, 1024), Version: 1, WrittenAt: now})
		if _, err := p.store.Put(ctx, recs[k]); err != nil {
			t.Fatal(err)
		}
	}
	type readResult struct {
		r   *Record
		err error
	}
	var wg sync.WaitGroup
	read := func(k string) <-chan readResult {
		out := make(chan readResult, 1)
		wg.Go(func() {
			r, err := tr.read(ctx, id, k)
			out <- readResult{r, err}
		})
		return out
	}
	lone := occupyFrames(t, g, func(key string) <-chan readResult {
		return read(key)
	})
	results := make(map[string]<-chan readResult)
	for k := range recs {
		results[k] = read(k)
	}
	waitFor(t, "the reads to queue", func() bool { return p.client.queued(id) == maxBatch })
	g.releaseAll()
	for _, ch := range lone {
		if r := <-ch; r.err != nil || r.r != nil {
			t.Fatalf("read of an absent key: %v, %v", r.r, r.err)
		}
	}
	for k, ch := range results {
		r := <-ch
		if r.err != nil || r.r == nil || !bytes.Equal(r.r.Value, recs[k].Value) {
			t.Fatalf("read of %s: %v, %v", k, r.r, r.err)
		}
	}
	wg.Wait()
	// 64 answers of over 1 KiB do not fit in one message: the rest went alone.
	messages, batches := p.client.stats.messages.Load(), p.client.stats.batches.Load()
	if batches != 1 || messages <= maxFramesPerPeer+1 {
		t.Fatalf("%d messages, %d batches; want one batch and the answers that did not fit asked for alone", messages, batches)
	}
}
