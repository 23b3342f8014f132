package replication_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	record "github.com/libp2p/go-libp2p-record"
	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
	"github.com/dhtnode/dhtnode/replication"
)

// anything accepts every record: the attacker's kad-dht validator.
type anything struct{}

func (anything) Validate(string, []byte) error        { return nil }
func (anything) Select(string, [][]byte) (int, error) { return 0, nil }

// A stranger's stock go-libp2p-kad-dht PutValue stores nothing on dhtnode
// nodes: not a record at version 2^64-1 that locked the key (issue 16, item
// 1), not even a well-formed one. The key stays writable and readable.
func TestStockPutValueStoresNothing(t *testing.T) {
	c := testnet.New(t, 5, nil)
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(priv), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	attacker, err := dht.New(h, dht.Mode(dht.ModeClient), dht.ProtocolPrefix("/dhtnode/test"),
		dht.Validator(record.NamespacedValidator{replication.Namespace: anything{}}), dht.DisableProviders())
	if err != nil {
		t.Fatal(err)
	}
	defer attacker.Close()
	if err := h.Connect(ctxT(t), c.AddrInfo(0)); err != nil {
		t.Fatal(err)
	}
	c.WaitFor(20*time.Second, "the attacker's routing table", func() bool { return attacker.RoutingTable().Size() > 0 })

	now := time.Now().UnixNano()
	for key, rec := range map[string]*replication.Record{
		"victim":  {Key: "victim", Value: []byte("locked"), Version: math.MaxUint64, WrittenAt: now},
		"planted": {Key: "planted", Value: []byte("parked"), Version: 1, WrittenAt: now},
	} {
		if err := rec.Sign(priv); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = attacker.PutValue(ctx, replication.DHTKey(key), rec.Marshal()) // kad-dht ignores the peers' errors
		cancel()
	}
	rep, err := c.Client(2).Replicas(ctxT(t), "planted")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range rep.Holders {
		if h.Version != 0 {
			t.Fatalf("a stranger's PUT_VALUE was stored: %+v", rep)
		}
	}
	res := mustPut(t, c, 1, "victim", "honest")
	if res.Version != 1 {
		t.Fatalf("put after the attack = %+v, want version 1", res)
	}
	for i := range c.Len() {
		if !readsBack(c, i, "victim", "honest") {
			t.Fatalf("node %d does not read the honest value back", i)
		}
	}
}

// Concurrent compare-and-set writers from one version, through every node:
// exactly one is acknowledged, the others get a version conflict, and every
// node then reads the winner (issue 16, item 4). Several rounds, each from
// the version the last one left.
func TestConcurrentCompareAndSetHasOneWinner(t *testing.T) {
	const writers, rounds = 8, 4
	c := testnet.New(t, 5, nil)
	mustPut(t, c, 0, "cas-race", "start")
	for round := range rounds {
		from := uint64(round + 1)
		type outcome struct {
			value string
			err   error
		}
		out := make(chan outcome, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				value := fmt.Sprintf("round %d writer %d", round, i)
				<-start
				_, err := c.Client(i%c.Len()).Put(ctxT(t), "cas-race", []byte(value), node.PutOptions{IfVersion: &from})
				out <- outcome{value, err}
			})
		}
		close(start)
		wg.Wait()
		close(out)
		var won []string
		for o := range out {
			switch {
			case o.err == nil:
				won = append(won, o.value)
			case !errors.Is(o.err, node.ErrVersionConflict):
				t.Errorf("round %d: %q: %v, want success or a version conflict", round, o.value, o.err)
			}
		}
		if len(won) != 1 {
			t.Fatalf("round %d: %d writers acknowledged (%q), want exactly one", round, len(won), won)
		}
		for i := range c.Len() {
			got, version, err := c.Client(i).Get(ctxT(t), "cas-race", 0)
			if err != nil || string(got) != won[0] || version != from+1 {
				t.Fatalf("round %d: node %d reads %q v%d (%v), want the winner %q v%d", round, i, got, version, err, won[0], from+1)
			}
		}
	}
}
