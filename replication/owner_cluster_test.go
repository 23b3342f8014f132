package replication_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	kadpb "github.com/libp2p/go-libp2p-kad-dht/pb"
	recpb "github.com/libp2p/go-libp2p-record/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-msgio"
	"google.golang.org/protobuf/proto"

	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
	"github.com/dhtnode/dhtnode/replication"
)

func newSigner(t *testing.T) (crypto.PrivKey, peer.ID) {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return priv, id
}

func signedRecord(t *testing.T, priv crypto.PrivKey, r replication.Record) *replication.Record {
	t.Helper()
	if r.WrittenAt == 0 {
		r.WrittenAt = time.Now().UnixNano()
	}
	if err := r.Sign(priv); err != nil {
		t.Fatal(err)
	}
	return &r
}

func wantForbidden(t *testing.T, what string, err error) {
	t.Helper()
	var apiErr *node.APIError
	if !errors.Is(err, node.ErrForbidden) || !errors.As(err, &apiErr) || apiErr.Status != http.StatusForbidden {
		t.Fatalf("%s: %v, want 403 forbidden", what, err)
	}
}

// A node writes its own namespace; the same key written through another
// node (as itself) is refused with 403, and so are deletes.
func TestOwnedKeyWritesAndDeletes(t *testing.T) {
	c := testnet.New(t, 5, nil)
	key := "@" + c.Node(0).PeerID().String() + "/profile"
	if res := mustPut(t, c, 0, key, "v1"); res.Version != 1 {
		t.Fatalf("owner's put = %+v", res)
	}
	_, err := c.Client(1).Put(ctxT(t), key, []byte("not yours"), node.PutOptions{})
	wantForbidden(t, "put through node 1", err)
	_, err = c.Client(1).Delete(ctxT(t), key)
	wantForbidden(t, "delete through node 1", err)
	_, err = c.Client(1).Put(ctxT(t), "@notapeer/profile", []byte("x"), node.PutOptions{})
	if !errors.Is(err, node.ErrBadRequest) {
		t.Fatalf("put of a malformed owned key: %v, want 400", err)
	}
	if res := mustPut(t, c, 0, key, "v2"); res.Version != 2 {
		t.Fatalf("owner's second put = %+v", res)
	}
	for i := range 5 {
		if !readsBack(c, i, key, "v2") {
			t.Fatalf("node %d does not read the owner's v2", i)
		}
	}
	if _, err := c.Client(0).Delete(ctxT(t), key); err != nil {
		t.Fatalf("owner's delete: %v", err)
	}
}

// A malicious node sends forged and foreign records of an owned key straight
// over the record protocol (PUT, WRITE and CREATE) and over kad-dht's
// PUT_VALUE to every node: every one refuses, and every holder keeps the
// owner's record.
func TestForgedOwnedRecordsRefusedByEveryHolder(t *testing.T) {
	c := testnet.New(t, 6, nil)
	owner := c.Node(0).PeerID()
	key := "@" + owner.String() + "/profile"
	mustPut(t, c, 0, key, "genuine")

	attackerKey, attackerID := newSigner(t)
	attacker, err := libp2p.New(libp2p.Identity(attackerKey), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer attacker.Close()
	foreign := signedRecord(t, attackerKey, replication.Record{Key: key, Value: []byte("hijacked"), Version: 100})
	foreignTomb := signedRecord(t, attackerKey, replication.Record{Key: key, Version: 100, Deleted: true})
	forged := signedRecord(t, attackerKey, replication.Record{Key: key, Value: []byte("forged"), Version: 100})
	forged.Writer = owner // claims the owner wrote it; the signature is the attacker's
	if foreign.Writer != attackerID {
		t.Fatal("the attacker's record names another writer")
	}
	network := c.Config(0).Network
	recordProto := replication.ProtocolID(protocol.ID("/dhtnode/" + network))
	kadProto := protocol.ID("/dhtnode/" + network + "/kad/1.0.0")
	for _, i := range c.Running() {
		target := c.AddrInfo(i)
		if err := attacker.Connect(ctxT(t), target); err != nil {
			t.Fatalf("connect to node %d: %v", i, err)
		}
		for _, rec := range []*replication.Record{foreign, foreignTomb, forged} {
			// Record protocol ops (rpc.go): PUT 2, WRITE 4, CREATE 5; status 0 = stored.
			for _, op := range []byte{2, 4, 5} {
				if status := rawRecordRequest(t, attacker, target.ID, recordProto, op, key, rec.Marshal()); status == 0 {
					t.Fatalf("node %d stored a record by %s (writer %s) sent with op %d", i, attackerID, rec.Writer, op)
				}
			}
			rawKadPut(t, attacker, target.ID, kadProto, rec)
		}
	}
	for _, i := range c.Running() {
		if !readsBack(c, i, key, "genuine") {
			t.Fatalf("node %d does not read the owner's record", i)
		}
	}
	rep, err := c.Client(3).Replicas(ctxT(t), key)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range rep.Holders {
		if h.Version != 1 {
			t.Fatalf("holder %s has version %d, want the owner's 1: %+v", h.PeerID, h.Version, rep)
		}
	}
}

// rawRecordRequest sends one record-protocol request and returns the
// answer's status byte.
func rawRecordRequest(t *testing.T, h host.Host, p peer.ID, proto protocol.ID, op byte, key string, payload []byte) byte {
	t.Helper()
	s, err := h.NewStream(ctxT(t), p, proto)
	if err != nil {
		t.Fatalf("open record stream: %v", err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	req := append([]byte{op}, binary.AppendUvarint(nil, uint64(len(key)))...)
	req = append(append(req, key...), payload...)
	if err := msgio.NewVarintWriter(s).WriteMsg(req); err != nil {
		t.Fatal(err)
	}
	answer, err := msgio.NewVarintReaderSize(s, 1<<20).ReadMsg()
	if err != nil || len(answer) == 0 {
		t.Fatalf("read answer: %v", err)
	}
	return answer[0]
}

// rawKadPut sends rec as a kad-dht PUT_VALUE; the node's validator decides.
func rawKadPut(t *testing.T, h host.Host, p peer.ID, pid protocol.ID, rec *replication.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := h.NewStream(ctx, p, pid)
	if err != nil {
		t.Fatalf("open kad stream: %v", err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	dhtKey := replication.DHTKey(rec.Key)
	msg := kadpb.NewMessage(kadpb.Message_PUT_VALUE, []byte(dhtKey), 0)
	msg.Record = &recpb.Record{Key: []byte(dhtKey), Value: rec.Marshal()}
	data, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := msgio.NewVarintWriter(s).WriteMsg(data); err != nil {
		t.Fatal(err)
	}
	// A refused PUT_VALUE gets no answer: the node resets the stream.
	_, _ = msgio.NewVarintReaderSize(s, 1<<20).ReadMsg()
}

// A client that holds its own key writes its namespace through nodes that
// are not the owner; the nodes replicate the record as signed and refuse
// records of that namespace signed by anyone else, and stale versions.
func TestClientSignedRecordsThroughAnotherNode(t *testing.T) {
	c := testnet.New(t, 5, nil)
	priv, id := newSigner(t)
	intruder, _ := newSigner(t)
	key := "@" + id.String() + "/status"
	v1 := signedRecord(t, priv, replication.Record{Key: key, Value: []byte("online"), Version: 1})
	res, err := c.Client(2).PutRecord(ctxT(t), v1, node.PutOptions{})
	if err != nil || res.Version != 1 || res.Acks < 3 {
		t.Fatalf("client-signed put through node 2 = %+v, %v", res, err)
	}
	if !readsBack(c, 4, key, "online") {
		t.Fatal("node 4 does not read the client-signed value")
	}
	_, err = c.Client(3).PutRecord(ctxT(t), signedRecord(t, intruder, replication.Record{Key: key, Value: []byte("x"), Version: 2}), node.PutOptions{})
	wantForbidden(t, "a record signed by another key", err)
	v2 := signedRecord(t, priv, replication.Record{Key: key, Value: []byte("away"), Version: 2})
	if _, err := c.Client(3).PutRecord(ctxT(t), v2, node.PutOptions{}); err != nil {
		t.Fatalf("v2: %v", err)
	}
	stale := signedRecord(t, priv, replication.Record{Key: key, Value: []byte("stale"), Version: 1})
	if _, err := c.Client(1).PutRecord(ctxT(t), stale, node.PutOptions{}); !errors.Is(err, node.ErrVersionConflict) {
		t.Fatalf("a record older than the stored one: %v, want a version conflict", err)
	}
	wrong := uint64(1)
	v3 := signedRecord(t, priv, replication.Record{Key: key, Value: []byte("cas"), Version: 3})
	if _, err := c.Client(1).PutRecord(ctxT(t), v3, node.PutOptions{IfVersion: &wrong}); !errors.Is(err, node.ErrVersionConflict) {
		t.Fatalf("if_version 1 at version 2: %v, want a version conflict", err)
	}
	tomb := signedRecord(t, priv, replication.Record{Key: key, Version: 3, Deleted: true})
	if _, err := c.Client(1).PutRecord(ctxT(t), tomb, node.PutOptions{}); err != nil {
		t.Fatalf("client-signed delete: %v", err)
	}
	if _, _, err := c.Client(0).Get(ctxT(t), key, 0); !errors.Is(err, node.ErrNotFound) {
		t.Fatalf("get after the delete: %v, want not found", err)
	}
	cur, err := c.Client(0).Record(ctxT(t), key, 0)
	if err != nil || !cur.Deleted || cur.Version != 3 || cur.Writer != id {
		t.Fatalf("current record = %+v, %v; want the owner's tombstone at version 3", cur, err)
	}
}
