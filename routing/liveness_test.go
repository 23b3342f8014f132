package routing

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestLivenessObserve(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type obs struct {
		ok  bool
		rtt time.Duration
	}
	tests := []struct {
		name        string
		maxFailures int
		seq         []obs
		wantEvict   []bool // per observation
		want        PeerHealth
	}{
		{
			name: "success records RTT and last seen", maxFailures: 2,
			seq:       []obs{{true, 3 * time.Millisecond}},
			wantEvict: []bool{false},
			want:      PeerHealth{LastSeen: t0, RTT: 3 * time.Millisecond},
		},
		{
			name: "one failure makes suspect, not evicted", maxFailures: 2,
			seq:       []obs{{true, time.Millisecond}, {false, 0}},
			wantEvict: []bool{false, false},
			want:      PeerHealth{LastSeen: t0, RTT: time.Millisecond, ConsecutiveFailures: 1, Suspect: true},
		},
		{
			name: "failures in a row evict", maxFailures: 2,
			seq:       []obs{{false, 0}, {false, 0}},
			wantEvict: []bool{false, true},
		},
		{
			name: "slow answer between failures clears suspicion", maxFailures: 2,
			seq:       []obs{{false, 0}, {true, 900 * time.Millisecond}, {false, 0}, {true, 900 * time.Millisecond}},
			wantEvict: []bool{false, false, false, false},
			want:      PeerHealth{LastSeen: t0.Add(3 * time.Second), RTT: 900 * time.Millisecond},
		},
		{
			name: "query answer without RTT keeps the probe RTT", maxFailures: 3,
			seq:       []obs{{true, 2 * time.Millisecond}, {true, 0}},
			wantEvict: []bool{false, false},
			want:      PeerHealth{LastSeen: t0.Add(time.Second), RTT: 2 * time.Millisecond},
		},
		{
			name: "threshold of three", maxFailures: 3,
			seq:       []obs{{false, 0}, {false, 0}, {false, 0}},
			wantEvict: []bool{false, false, true},
		},
		{
			name: "zero threshold acts as one", maxFailures: 0,
			seq:       []obs{{false, 0}},
			wantEvict: []bool{true},
		},
	}
	p := peer.ID("peer-a")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLiveness(tt.maxFailures)
			var evicted bool
			for i, o := range tt.seq {
				evicted = l.Observe(p, o.ok, o.rtt, t0.Add(time.Duration(i)*time.Second))
				if evicted != tt.wantEvict[i] {
					t.Fatalf("observation %d: evict = %v, want %v", i, evicted, tt.wantEvict[i])
				}
			}
			got, ok := l.Health(p)
			if evicted {
				if ok {
					t.Fatalf("evicted peer still tracked: %+v", got)
				}
				return
			}
			if !ok || got != tt.want {
				t.Fatalf("health = %+v (%v), want %+v", got, ok, tt.want)
			}
		})
	}
}

func TestLivenessOldObservationKeepsLastSeen(t *testing.T) {
	l := newLiveness(2)
	t0 := time.Unix(1000, 0)
	l.Observe("p", true, time.Millisecond, t0)
	l.Observe("p", true, 0, t0.Add(-time.Minute)) // a kad-dht query answered before the probe
	if h, _ := l.Health("p"); !h.LastSeen.Equal(t0) {
		t.Fatalf("LastSeen went back to %v", h.LastSeen)
	}
	l.Forget("p")
	if _, ok := l.Health("p"); ok {
		t.Fatal("forgotten peer still tracked")
	}
}

// The slowness rises with each failed probe noticed late (starved), at most
// to maxSlowness, falls with each answer, and a failure noticed on time (a
// dead or cut-off peer, as on a partition's minority side) leaves it.
func TestSlowness(t *testing.T) {
	var m Manager
	steps := []struct {
		ok, late bool
		want     int32
	}{
		{false, false, 0}, {false, true, 1}, {false, false, 1}, {false, true, 2}, {false, true, 3},
		{false, true, 3}, {true, false, 2}, {true, false, 1}, {true, false, 0}, {true, false, 0},
	}
	for i, s := range steps {
		m.noteSlowness(s.ok, s.late)
		if got := m.slowness.Load(); got != s.want {
			t.Fatalf("step %d (ok %v, late %v): slowness %d, want %d", i, s.ok, s.late, got, s.want)
		}
	}
	if got := starvedLateness(2 * time.Second); got != 200*time.Millisecond {
		t.Errorf("starvedLateness(2s) = %v", got)
	}
	if got := starvedLateness(50 * time.Millisecond); got != 10*time.Millisecond {
		t.Errorf("starvedLateness(50ms) = %v", got)
	}
}

func TestScaledProbeTimeout(t *testing.T) {
	for slowness, want := range map[int]time.Duration{-1: 2 * time.Second, 0: 2 * time.Second, 1: 4 * time.Second, 3: 8 * time.Second, 9: 8 * time.Second} {
		if got := scaledProbeTimeout(5*time.Second, slowness); got != want {
			t.Errorf("scaledProbeTimeout(5s, %d) = %v, want %v", slowness, got, want)
		}
	}
}

func TestTimings(t *testing.T) {
	tests := []struct {
		interval                time.Duration
		timeout, reprobe, fresh time.Duration
	}{
		{5 * time.Second, 2 * time.Second, 500 * time.Millisecond, 2500 * time.Millisecond},
		{time.Minute, 2 * time.Second, time.Second, 30 * time.Second},
		{300 * time.Millisecond, 150 * time.Millisecond, 30 * time.Millisecond, 150 * time.Millisecond},
		{100 * time.Millisecond, 50 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := probeTimeout(tt.interval); got != tt.timeout {
			t.Errorf("probeTimeout(%v) = %v, want %v", tt.interval, got, tt.timeout)
		}
		if got := reprobeDelay(tt.interval); got != tt.reprobe {
			t.Errorf("reprobeDelay(%v) = %v, want %v", tt.interval, got, tt.reprobe)
		}
		if got := freshWindow(tt.interval); got != tt.fresh {
			t.Errorf("freshWindow(%v) = %v, want %v", tt.interval, got, tt.fresh)
		}
	}
}

func TestNextBackoff(t *testing.T) {
	lo, hi := 500*time.Millisecond, 30*time.Second
	var got []time.Duration
	for b := time.Duration(0); len(got) < 9; {
		b = nextBackoff(b, lo, hi)
		got = append(got, b)
	}
	want := []time.Duration{lo, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, hi, hi, hi}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoff sequence %v, want %v", got, want)
		}
	}
}

func TestLivenessCountsSuspects(t *testing.T) {
	l := newLiveness(2)
	t0 := time.Unix(1000, 0)
	steps := []struct {
		name string
		do   func()
		want int
	}{
		{"a fails", func() { l.Observe("a", false, 0, t0) }, 1},
		{"b fails", func() { l.Observe("b", false, 0, t0) }, 2},
		{"a answers", func() { l.Observe("a", true, time.Millisecond, t0) }, 1},
		{"a answers again", func() { l.Observe("a", true, time.Millisecond, t0) }, 1},
		{"b is forgotten", func() { l.Forget("b") }, 0},
		{"an unknown peer is forgotten", func() { l.Forget("c") }, 0},
		{"a fails", func() { l.Observe("a", false, 0, t0) }, 1},
		{"a fails again and is evicted", func() { l.Observe("a", false, 0, t0) }, 0},
	}
	for _, s := range steps {
		s.do()
		if got := l.Suspects(); got != s.want {
			t.Fatalf("after %q: %d suspects, want %d", s.name, got, s.want)
		}
	}
}

// TestLivenessDoubts: a peer whose connections closed is doubted, not
// suspect, until it answers, connects again or is forgotten; a failed
// probe makes it suspect too, and only an answer or Forget clears that.
func TestLivenessDoubts(t *testing.T) {
	l := newLiveness(3)
	t0 := time.Unix(1000, 0)
	steps := []struct {
		name                    string
		do                      func()
		suspects, doubts        int
		aSuspect, aDisconnected bool
	}{
		{"a disconnects", func() { l.Disconnected("a") }, 0, 1, false, true},
		{"a disconnects again", func() { l.Disconnected("a") }, 0, 1, false, true},
		{"a connects again", func() { l.Connected("a") }, 0, 0, false, false},
		{"an unknown peer connects", func() { l.Connected("c") }, 0, 0, false, false},
		{"a disconnects", func() { l.Disconnected("a") }, 0, 1, false, true},
		{"a fails a probe", func() { l.Observe("a", false, 0, t0) }, 1, 1, true, true},
		{"b fails a probe", func() { l.Observe("b", false, 0, t0) }, 2, 2, true, true},
		{"a connects again, still suspect", func() { l.Connected("a") }, 2, 2, true, false},
		{"a disconnects and answers", func() { l.Disconnected("a"); l.Observe("a", true, time.Millisecond, t0) }, 1, 1, false, false},
		{"a disconnects and is forgotten", func() { l.Disconnected("a"); l.Forget("a") }, 1, 1, false, false},
		{"b is forgotten", func() { l.Forget("b") }, 0, 0, false, false},
	}
	for _, s := range steps {
		s.do()
		h, _ := l.Health("a")
		if l.Suspects() != s.suspects || l.Doubts() != s.doubts || h.Suspect != s.aSuspect || h.Disconnected != s.aDisconnected {
			t.Fatalf("after %q: %d suspects, %d doubts, a %+v; want %d, %d, suspect %v, disconnected %v",
				s.name, l.Suspects(), l.Doubts(), h, s.suspects, s.doubts, s.aSuspect, s.aDisconnected)
		}
	}
}

func TestLivenessWouldEvict(t *testing.T) {
	l := newLiveness(2)
	t0 := time.Unix(1000, 0)
	if l.wouldEvict("a") {
		t.Fatal("an unknown peer would be evicted by one failure of two")
	}
	l.Observe("a", false, 0, t0)
	if !l.wouldEvict("a") {
		t.Fatal("a peer that failed once would not be evicted by its second failure")
	}
	if one := newLiveness(1); !one.wouldEvict("a") {
		t.Fatal("with one failure to evict, an unknown peer would not be evicted")
	}
}

// TestProbeOfAStoppedPeerIsRefused: the probe of a peer whose process is
// gone (its port closed) fails as refused, and is re-probed sooner; one
// cut off by a partition, or whose probe times out, is not.
func TestProbeOfAStoppedPeerIsRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("real hosts")
	}
	a, b, c := newTestNode(t, nil, fastConfig()), newTestNode(t, nil, fastConfig()), newTestNode(t, nil, fastConfig())
	connect(t, a, b)
	connect(t, a, c)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := a.m.ping(ctx, b.id()); err != nil {
		t.Fatalf("probe of a live peer: %v", err)
	}
	b.close()
	_, err := a.m.ping(ctx, b.id())
	if err == nil || !refused(err) {
		t.Fatalf("probe of a stopped peer: %v, want a refused dial", err)
	}
	a.gater.Set(c.id(), true)
	if err := a.h.Network().ClosePeer(c.id()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.m.ping(ctx, c.id()); err == nil || refused(err) {
		t.Fatalf("probe of a partitioned peer: %v, want an error other than refused", err)
	}
	expired, cancelExpired := context.WithCancel(ctx)
	cancelExpired()
	if _, err := a.m.ping(expired, b.id()); err == nil || refused(err) {
		t.Fatalf("probe cut short: %v, want an error other than refused", err)
	}
	if d := refusedReprobeDelay(5 * time.Second); d != 50*time.Millisecond || d >= reprobeDelay(5*time.Second) {
		t.Fatalf("refusedReprobeDelay(5s) = %v, want 50ms", d)
	}
}
