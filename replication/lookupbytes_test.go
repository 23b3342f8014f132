package replication

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// A repair lookup counts the bytes of its FIND_NODE request and answer as
// the DHT stream carries them: what libp2p's bandwidth counter measured on
// the DHT protocol of the node that ran it (the stream's protocol
// negotiation aside, which the counter files under no protocol).
func TestLookupCountsItsFindNodeBytes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const proto = "/dhtnode/lookupbytes"
	var hosts []host.Host
	var dhts []*dht.IpfsDHT
	var bw *metrics.BandwidthCounter
	for i := range 12 {
		opts := []libp2p.Option{libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0")}
		if i == 0 {
			bw = metrics.NewBandwidthCounter()
			opts = append(opts, libp2p.BandwidthReporter(bw))
		}
		h, err := libp2p.New(opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close() })
		d, err := dht.New(h, dht.Mode(dht.ModeServer), dht.ProtocolPrefix(proto), dht.DisableProviders(), dht.DisableValues(), dht.DisableAutoRefresh())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.Close() })
		hosts, dhts = append(hosts, h), append(dhts, d)
	}
	// Node 0 knows node 1 only; node 1 knows everyone.
	for _, h := range hosts[2:] {
		if err := hosts[1].Connect(ctx, *host.InfoFromHost(h)); err != nil {
			t.Fatal(err)
		}
	}
	if err := hosts[0].Connect(ctx, *host.InfoFromHost(hosts[1])); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); dhts[1].RoutingTable().Size() < len(hosts)-1 || dhts[0].RoutingTable().Size() < 1; {
		if time.Now().After(deadline) {
			t.Fatalf("routing tables: node 0 has %d peers, node 1 %d", dhts[0].RoutingTable().Size(), dhts[1].RoutingTable().Size())
		}
		time.Sleep(20 * time.Millisecond)
	}
	self := hosts[0].ID()
	r := &router{self: self, selfKid: kb.ConvertPeerID(self), d: dhts[0], ms: dhts[0].MessageSender(), bucketSize: 20}
	dhtProto := protocol.ID(proto + "/kad/1.0.0")
	// Wait out the DHT's own traffic of the connections (identify, the
	// peers' checks): the counter still for over one of its sweeps.
	before := bw.GetBandwidthForProtocol(dhtProto)
	for still, deadline := 0, time.Now().Add(20*time.Second); still < 12; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the DHT protocol's traffic did not stop")
		}
		now := bw.GetBandwidthForProtocol(dhtProto)
		if now.TotalIn == before.TotalIn && now.TotalOut == before.TotalOut {
			still++
		} else {
			still, before = 0, now
		}
	}
	total := 0
	for i := range 5 {
		peers, n := r.lookup(ctx, DHTKey(fmt.Sprintf("key-%d", i)), 8)
		if len(peers) < 8 || n == 0 {
			t.Fatalf("lookup found %d peers, counted %d bytes", len(peers), n)
		}
		total += n
	}
	// The counter's totals move on its meters' sweeps (once a second).
	var after metrics.Stats
	measured := 0
	for deadline := time.Now().Add(10 * time.Second); measured < total && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		after = bw.GetBandwidthForProtocol(dhtProto)
		measured = int(after.TotalIn-before.TotalIn) + int(after.TotalOut-before.TotalOut)
	}
	t.Logf("5 lookups counted %d bytes; the bandwidth counter measured %d on %s (%d in, %d out)", total, measured, dhtProto,
		after.TotalIn-before.TotalIn, after.TotalOut-before.TotalOut)
	if total != measured {
		t.Fatalf("lookups counted %d bytes, the DHT streams carried %d", total, measured)
	}
}
