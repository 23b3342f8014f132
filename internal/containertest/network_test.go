package containertest

import (
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Bounds of the default settings (SPEC §2), with slack for a shared,
// loaded test machine: failure detection is probe_interval (5 s) times
// probe_failures (2); re-replication is repair_interval (10 s) after that.
const (
	probeBound  = 10*time.Second + 10*time.Second
	repairBound = probeBound + 10*time.Second + 10*time.Second
	healBound   = 60 * time.Second
)

// acked remembers the last acknowledged value of every key a test wrote.
type acked map[string]string

// readsEverywhere is a condition: every node of nodes reads every key's
// acknowledged value, and no key of refused.
func (n *testNet) readsEverywhere(keys acked, refused []string, nodes ...int) func() error {
	return func() error {
		var errs []error
		for _, i := range nodes {
			for k, want := range keys {
				if got, _, err := n.get(i, k); err != nil || got != want {
					errs = append(errs, fmt.Errorf("node %d reads %s = %q (%v), want %q", i, k, got, err, want))
				}
			}
			for _, k := range refused {
				if got, _, err := n.get(i, k); err == nil {
					errs = append(errs, fmt.Errorf("node %d reads the refused write %s = %q", i, k, got))
				}
			}
		}
		return errors.Join(errs...)
	}
}

// onHolders is a condition: the replicas of every key, asked through node
// via, show want holders with the key's acknowledged version or later.
func (n *testNet) onHolders(keys map[string]uint64, want, via int) func() error {
	return func() error {
		var errs []error
		for k, version := range keys {
			ctx, cancel := contextFor(10 * time.Second)
			r, err := n.clients[via].Replicas(ctx, k)
			cancel()
			if err != nil {
				errs = append(errs, fmt.Errorf("replicas of %s: %w", k, err))
				continue
			}
			have := 0
			for _, h := range r.Holders {
				if h.Has && h.Version >= version {
					have++
				}
			}
			if have != want {
				errs = append(errs, fmt.Errorf("%s is on %d holders, want %d", k, have, want))
			}
		}
		return errors.Join(errs...)
	}
}

// TestContainerNetwork runs 8 nodes in 8 containers with default settings
// and checks the guarantees across a real network: formation, a killed
// node detected and repaired around, a restart with a new address, a
// partition with writes on both sides and its heal, delay and loss, and a
// graceful stop. The steps share one network and run in order.
func TestContainerNetwork(t *testing.T) {
	const size = 8
	n := startTestNet(t, size)
	keys := acked{}
	versions := map[string]uint64{}
	write := func(via int, k, v string) {
		t.Helper()
		res, err := n.put(via, k, v, 0)
		if err != nil {
			t.Fatalf("put %s through node %d: %v", k, via, err)
		}
		keys[k], versions[k] = v, res.Version
	}

	// step runs one step unless an earlier one failed or the test binary's
	// timeout is too near for it: a timeout would skip the cleanups that
	// remove the containers.
	step := func(name string, need time.Duration, f func(t *testing.T)) bool {
		if deadline, ok := t.Deadline(); ok && time.Until(deadline) < need {
			t.Errorf("%s: skipped, only %s left before the test binary's timeout (run with a longer -timeout)", name, time.Until(deadline).Round(time.Second))
			return false
		}
		return t.Run(name, f)
	}
	ok := step("formation", time.Minute, func(t *testing.T) {
		eventually(t, "every routing table holds 7", 30*time.Second, n.tablesHold(size-1, all(size)...))
		write(0, "greeting", "hello across hosts")
		if got, _, err := n.get(7, "greeting"); err != nil || got != "hello across hosts" {
			t.Fatalf("get through node 7: %q, %v", got, err)
		}
		for i := range 16 {
			write(i%size, fmt.Sprintf("key-%02d", i), fmt.Sprintf("value %d", i))
		}
	})
	ok = ok && step("kill and restart", 2*time.Minute, func(t *testing.T) {
		st, err := n.status(3)
		if err != nil {
			t.Fatal(err)
		}
		victim, oldIP := st.PeerID, n.ip(3)
		n.script("kill", "3")
		survivors := slices.DeleteFunc(all(size), func(i int) bool { return i == 3 })
		took := eventually(t, "no survivor lists node 3", probeBound, func() error {
			for _, i := range survivors {
				ids, err := n.peerIDs(i)
				if err != nil {
					return err
				}
				if ids[victim] {
					return fmt.Errorf("node %d still lists node 3", i)
				}
			}
			return nil
		})
		t.Logf("killed node 3 left every survivor's routing table after %s (bound %s)", took.Round(100*time.Millisecond), probeBound)
		took = eventually(t, "every key on 7 holders", repairBound, n.onHolders(versions, size-1, 0))
		t.Logf("every key back on 7 holders %s later (bound %s from the kill)", took.Round(100*time.Millisecond), repairBound)

		n.script("start", "3")
		if newIP := n.ip(3); newIP == oldIP {
			t.Errorf("node 3 restarted with its old address %s", oldIP)
		} else {
			t.Logf("node 3 restarted at %s (was %s)", newIP, oldIP)
		}
		took = eventually(t, "every routing table holds 7 again", healBound, n.tablesHold(size-1, all(size)...))
		t.Logf("node 3 back in every routing table after %s", took.Round(100*time.Millisecond))
	})
	ok = ok && step("partition and heal", 3*time.Minute, func(t *testing.T) { partitionAndHeal(t, n, keys) })
	ok = ok && step("delay and loss", 3*time.Minute, func(t *testing.T) { delayAndLoss(t, n, keys) })
	_ = ok && step("graceful stop", 2*time.Minute, func(t *testing.T) {
		start := time.Now()
		n.script("stop", "5")
		took := time.Since(start)
		if code := n.inspect(5, "{{.State.ExitCode}}"); code != "0" {
			t.Fatalf("node 5 exited with %s after SIGTERM, want 0 (a graceful leave)", code)
		}
		logs, _ := exec.Command("docker", "logs", n.container(5)).CombinedOutput()
		if !strings.Contains(string(logs), "shutting down: handing records over") || !strings.Contains(string(logs), `msg=stopped`) {
			t.Errorf("node 5's log shows no graceful leave:\n%s", tail(string(logs), 15))
		}
		t.Logf("docker stop took %s (SIGTERM to dhtnode as PID 1)", took.Round(100*time.Millisecond))
		live := slices.DeleteFunc(all(size), func(i int) bool { return i == 5 })
		eventually(t, "every key readable on every live node", 30*time.Second, n.readsEverywhere(keys, nil, live...))
		eventually(t, "every key on 7 holders", repairBound, n.onHolders(versions, size-1, 0))
	})
}

// partitionAndHeal splits 0-5 from 6-7 for 30 s with writes on both sides,
// then heals it: default-quorum writes succeed on the majority side and
// are refused on the minority side; a w=1 write on the minority side
// converges with the majority's to one winner.
func partitionAndHeal(t *testing.T, n *testNet, keys acked) {
	const size = 8
	majority, minority := []int{0, 1, 2, 3, 4, 5}, []int{6, 7}
	if _, err := n.put(0, "split", "before", 0); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n.script("partition", "0-5", "6-7")
	// The minority refuses writes once it knows it is cut off: after the
	// probes evicted the majority from its tables.
	eventually(t, "the minority's tables lose the majority", probeBound, n.tablesHold(1, minority...))
	var refused, lowAcks []string
	majorityWrites := 0
	for i := 0; time.Since(start) < 30*time.Second; i++ {
		k := fmt.Sprintf("maj-%02d", i)
		v := fmt.Sprintf("majority write %d", i)
		res, err := n.put(majority[i%len(majority)], k, v, 0)
		if err != nil {
			t.Errorf("majority put %s: %v", k, err)
		} else {
			keys[k] = v
			majorityWrites++
			if res.Acks < 5 {
				// A majority of 8 is 5, but a node that restarted just
				// before the partition remembers only the network it
				// has seen since (replication/quorum.go): noted, not
				// failed; see the issue 18 report.
				lowAcks = append(lowAcks, fmt.Sprintf("%s via node %d: %d acks", k, majority[i%len(majority)], res.Acks))
			}
		}
		k = fmt.Sprintf("min-%02d", i)
		_, err = n.put(minority[i%2], k, "minority write", 0)
		refused = append(refused, k)
		if err == nil {
			t.Errorf("the minority acknowledged %s with the default write quorum (issue 16's honest quorums)", k)
		} else if !isUnavailable(err) {
			t.Errorf("minority put %s: %v, want 503", k, err)
		}
		time.Sleep(500 * time.Millisecond) // pace the writers over the 30 s
	}
	if _, err := n.put(0, "split", "majority side", 0); err != nil {
		t.Fatalf("majority put of split: %v", err)
	}
	_, minErr := n.put(6, "split", "minority side", 1)
	t.Logf("partition: %d majority writes acknowledged, %d minority writes refused; w=1 minority write: %v", majorityWrites, len(refused), minErr)
	if len(lowAcks) > 0 {
		t.Logf("majority writes acknowledged by fewer than 5 holders: %s", strings.Join(lowAcks, "; "))
	}

	healed := time.Now()
	n.script("heal")
	took := eventually(t, "every routing table holds 7 after the heal", healBound, n.tablesHold(size-1, all(size)...))
	t.Logf("routing tables whole %s after the heal", took.Round(100*time.Millisecond))
	eventually(t, "every key reads its last acknowledged value on every node", healBound-time.Since(healed)+30*time.Second,
		n.readsEverywhere(keys, refused, all(size)...))
	eventually(t, "every node reads one winner of split", 30*time.Second, func() error {
		var vals []string
		for i := range size {
			v, _, err := n.get(i, "split")
			if err != nil {
				return fmt.Errorf("node %d: %w", i, err)
			}
			vals = append(vals, v)
		}
		if distinct := slices.Compact(slices.Sorted(slices.Values(vals))); len(distinct) != 1 {
			return fmt.Errorf("nodes read %q", vals)
		}
		if vals[0] != "majority side" && (minErr != nil || vals[0] != "minority side") {
			return fmt.Errorf("every node reads %q, which no acknowledged write of split wrote", vals[0])
		}
		return nil
	})
}

// delayAndLoss measures gets and puts through the API with 25 ms of delay
// on every node's outgoing packets, then checks that every operation still
// succeeds with 2 % loss on top.
func delayAndLoss(t *testing.T, n *testNet, keys acked) {
	base := measure(t, n, "no delay", keys, 40)
	n.script("netem", "delay 25ms")
	t.Cleanup(func() { n.script("netem", "off") })
	rtt := n.requireDelay(0, 1)
	delayed := measure(t, n, "delay 25ms", keys, 40)
	n.script("netem", "delay 25ms loss 2%")
	n.requireDelay(7, 6)
	lossy := measure(t, n, "delay 25ms loss 2%", keys, 40)
	t.Logf("CONTAINER_NETEM tcp handshake rtt %s", rtt.Round(100*time.Microsecond))
	for _, m := range []measurement{base, delayed, lossy} {
		t.Logf("CONTAINER_NETEM %-20s get p50 %6.1f ms  p99 %6.1f ms  put p50 %6.1f ms  (%d gets, %d puts, 100%% success)",
			m.name, ms(m.getP50), ms(m.getP99), ms(m.putP50), m.gets, m.puts)
	}
}

// measurement is the latency of one netem setting.
type measurement struct {
	name                   string
	getP50, getP99, putP50 time.Duration
	gets, puts             int
}

// measure writes puts new keys through node 0 and reads every key through
// node 7, one at a time, and fails on any error.
func measure(t *testing.T, n *testNet, name string, keys acked, puts int) measurement {
	t.Helper()
	var putTimes, getTimes []time.Duration
	for i := range puts {
		k := fmt.Sprintf("netem-%s-%02d", strings.ReplaceAll(name, " ", "-"), i)
		start := time.Now()
		if _, err := n.put(0, k, "v", 0); err != nil {
			t.Fatalf("%s: put %s: %v", name, k, err)
		}
		putTimes = append(putTimes, time.Since(start))
		keys[k] = "v"
	}
	names := slices.Sorted(maps.Keys(keys))
	for _, k := range names {
		start := time.Now()
		got, _, err := n.get(7, k)
		if err != nil || got != keys[k] {
			t.Fatalf("%s: get %s: %q, %v; want %q", name, k, got, err, keys[k])
		}
		getTimes = append(getTimes, time.Since(start))
	}
	return measurement{name: name, getP50: pct(getTimes, 50), getP99: pct(getTimes, 99), putP50: pct(putTimes, 50),
		gets: len(getTimes), puts: len(putTimes)}
}

// requireDelay fails the test unless the round trip from node a to node b
// shows 25 ms of delay each way, and returns it.
func (n *testNet) requireDelay(a, b int) time.Duration {
	n.t.Helper()
	rtt := n.rtt(a, b)
	if rtt < 45*time.Millisecond {
		n.t.Fatalf("round trip from node %d to node %d is %s with 25 ms delay each way, want about 50 ms", a, b, rtt)
	}
	return rtt
}

// rtt is the median TCP handshake time from node a to node b's libp2p port,
// measured inside a's network namespace by netdelay.
func (n *testNet) rtt(a, b int) time.Duration {
	n.t.Helper()
	pid := n.inspect(a, "{{.State.Pid}}")
	out, err := exec.Command("nsenter", "-t", pid, "-n", n.dir+"/netdelay", "rtt", "--count", "10", n.ip(b)+":4001").CombinedOutput()
	if err != nil {
		n.t.Fatalf("netdelay rtt: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`median ([0-9.]+) ms`).FindSubmatch(out)
	if m == nil {
		n.t.Fatalf("netdelay rtt printed %q", out)
	}
	f, _ := strconv.ParseFloat(string(m[1]), 64)
	return time.Duration(f * float64(time.Millisecond))
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-lines):], "\n")
}
