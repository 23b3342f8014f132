package replication

import (
	"testing"
)

// settleOne decides a set-aside record against what the other holders
// answer: a newer copy than the network's is put back; one holder's "none"
// is not enough to drop it while the others cannot answer; a majority's is.
func TestSettleOneDecisions(t *testing.T) {
	net := newMemNet(t, 4, 4, nil)
	ctx := testCtx(t)
	a, b, c, d := net.order[0], net.order[1], net.order[2], net.order[3]
	returner := net.node(a)

	net.store(a, "newer-here", "v2", 2)
	net.store(b, "newer-here", "v1", 1)
	net.store(a, "asked-too-few", "v1", 1)
	if _, err := returner.store.SetAside(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := returner.store.setAside(ctx)
	if err != nil || len(recs) != 2 {
		t.Fatalf("set aside %d records (%v), want 2", len(recs), err)
	}
	byKey := map[string]*Record{}
	for _, r := range recs {
		byKey[r.Key] = r
	}

	if !returner.m.settleOne(byKey["newer-here"]) || net.version(a, "newer-here") != 2 {
		t.Fatalf("a set-aside copy newer than the network's: settled with version %d here, want 2 put back", net.version(a, "newer-here"))
	}

	net.set(net.down, c, true)
	net.set(net.down, d, true)
	if returner.m.settleOne(byKey["asked-too-few"]) {
		t.Fatal("dropped on one holder's \"none\" while two of three could not answer")
	}
	if !returner.store.isSetAside(ctx, "asked-too-few") {
		t.Fatal("the copy left the set-aside space undecided")
	}
	net.set(net.down, c, false)
	net.set(net.down, d, false)
	if !returner.m.settleOne(byKey["asked-too-few"]) || net.version(a, "asked-too-few") != 0 {
		t.Fatal("three holders of three said none: the copy should be dropped")
	}
}
