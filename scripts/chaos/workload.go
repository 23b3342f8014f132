package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dhtnode/dhtnode/node"
)

// opTimeout bounds one put or get of the workload.
const opTimeout = 10 * time.Second

// history is what the workload wrote and saw.
type history struct {
	mu       sync.Mutex
	written  map[string]bool   // every value a writer sent, before it sent it
	acked    map[string]uint64 // key → highest sequence number acknowledged
	keys     []string
	putsOK   int
	putsFail int
	getsOK   int
	getsMiss int // 404
	getsFail int
	bad      []string // reads of values nobody wrote
}

func newHistory(writers, keysEach int) *history {
	h := &history{written: map[string]bool{}, acked: map[string]uint64{}}
	for w := range writers {
		for k := range keysEach {
			h.keys = append(h.keys, fmt.Sprintf("chaos-w%d-k%d", w, k))
		}
	}
	return h
}

// value is the unique value of a key's seq-th write.
func value(key string, seq uint64) string { return key + "/" + strconv.FormatUint(seq, 10) }

// seqOf returns the sequence number in a value of key, or false.
func seqOf(key, v string) (uint64, bool) {
	rest, ok := strings.CutPrefix(v, key+"/")
	if !ok {
		return 0, false
	}
	seq, err := strconv.ParseUint(rest, 10, 64)
	return seq, err == nil
}

// write runs one writer until ctx ends: it owns keys[w::writers] and puts
// the next sequence number of one of them through a random node.
func (h *history) write(ctx context.Context, n *network, w, writers int, rng *rand.Rand) {
	var own []string
	for i := w; i < len(h.keys); i += writers {
		own = append(own, h.keys[i])
	}
	seqs := map[string]uint64{}
	for op := 0; ctx.Err() == nil && op < 1_000_000; op++ {
		k := own[op%len(own)]
		seqs[k]++
		v := value(k, seqs[k])
		h.mu.Lock()
		h.written[v] = true
		h.mu.Unlock()
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		_, err := n.clients[rng.IntN(len(n.clients))].Put(octx, k, []byte(v), node.PutOptions{})
		cancel()
		h.mu.Lock()
		if err == nil {
			h.putsOK++
			h.acked[k] = max(h.acked[k], seqs[k])
		} else {
			h.putsFail++
		}
		h.mu.Unlock()
		pause(ctx, 20*time.Millisecond)
	}
}

// read runs one reader until ctx ends, checking that what it reads was
// written.
func (h *history) read(ctx context.Context, n *network, rng *rand.Rand) {
	for op := 0; ctx.Err() == nil && op < 1_000_000; op++ {
		k := h.keys[rng.IntN(len(h.keys))]
		i := rng.IntN(len(n.clients))
		octx, cancel := context.WithTimeout(ctx, opTimeout)
		v, _, err := n.clients[i].Get(octx, k, 0)
		cancel()
		h.mu.Lock()
		switch {
		case err == nil && !h.written[string(v)]:
			h.bad = append(h.bad, fmt.Sprintf("node %d read %s = %q, never written", i, k, v))
			h.getsOK++
		case err == nil:
			h.getsOK++
		case isNotFound(err):
			h.getsMiss++
		default:
			h.getsFail++
		}
		h.mu.Unlock()
		pause(ctx, 20*time.Millisecond)
	}
}

// check reads every key on every node once and returns what is wrong: a
// value older than the last acknowledged one, a value never written, or an
// error.
func (h *history) check(ctx context.Context, n *network) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var bad []string
	for i, c := range n.clients {
		for _, k := range h.keys {
			octx, cancel := context.WithTimeout(ctx, opTimeout)
			v, _, err := c.Get(octx, k, 0)
			cancel()
			acked := h.acked[k]
			seq, ok := seqOf(k, string(v))
			switch {
			case err != nil && acked == 0 && isNotFound(err):
			case err != nil:
				bad = append(bad, fmt.Sprintf("node %d: %s: %v (acknowledged up to %d)", i, k, err, acked))
			case !ok || !h.written[string(v)]:
				bad = append(bad, fmt.Sprintf("node %d read %s = %q, never written", i, k, v))
			case seq < acked:
				bad = append(bad, fmt.Sprintf("node %d read %s at write %d, older than acknowledged write %d", i, k, seq, acked))
			}
		}
	}
	return bad
}

func isNotFound(err error) bool {
	var apiErr *node.APIError
	return errors.As(err, &apiErr) && apiErr.Status == 404
}

// pause waits d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
