package containertest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// latencyEnv turns TestContainerLatency on; it is a benchmark, not part of
// the default test run.
const latencyEnv = "DHTNODE_CONTAINER_LATENCY"

// latencyOps is how many puts, and then gets, each setting measures.
const latencyOps = 200

// TestContainerLatency measures dhtnode and the baseline (vanilla
// go-libp2p-kad-dht, scripts/bench/baseline) across 8 containers each, one
// system after the other in the same run: puts through node 0 and gets of
// the same keys through node 7, serially, from the host through the
// published APIs, with no delay and with "netem delay 25ms" (a 50 ms round
// trip between containers). Lines CONTAINER_LATENCY carry the figures
// (BENCHMARKS.md "Across containers"). Runs only with DHTNODE_CONTAINER_LATENCY=1.
func TestContainerLatency(t *testing.T) {
	if os.Getenv(latencyEnv) != "1" {
		t.Skipf("a benchmark of several minutes; set %s=1 to run it", latencyEnv)
	}
	const size = 8
	for _, system := range []string{"dhtnode", "baseline"} {
		t.Run(system, func(t *testing.T) {
			t.Logf("CONTAINER_LATENCY load average at start: %s", loadAverage())
			n := launchTestNet(t, netPlace{system, "10.219", 14000}, size)
			hc := &http.Client{Timeout: 30 * time.Second}
			t.Cleanup(hc.CloseIdleConnections)
			eventually(t, "full routing tables", 90*time.Second, n.tablesHold(size-1, all(size)...))
			plain := latencyRun(t, n, hc, system, "no delay")
			n.script("netem", "delay 25ms")
			rtt := n.requireDelay(0, 1)
			delayed := latencyRun(t, n, hc, system, "delay 25ms")
			n.script("netem", "off")
			t.Logf("CONTAINER_LATENCY %s tcp handshake rtt with delay %s", system, rtt.Round(100*time.Microsecond))
			for _, m := range []latency{plain, delayed} {
				t.Logf("CONTAINER_LATENCY %-8s %-10s get p50 %6.1f ms  p99 %6.1f ms  put p50 %6.1f ms  gets %d/%d ok  puts %d/%d ok",
					system, m.name, ms(m.getP50), ms(m.getP99), ms(m.putP50), m.getsOK, latencyOps, m.putsOK, latencyOps)
			}
			t.Logf("CONTAINER_LATENCY load average at end: %s", loadAverage())
		})
	}
}

// latency is what one setting measured; the percentiles are over the
// successful operations.
type latency struct {
	name                   string
	getP50, getP99, putP50 time.Duration
	getsOK, putsOK         int
}

// latencyRun puts latencyOps new keys through node 0, then gets each key
// written through node 7, one at a time, and counts the successes: a put
// answered 2xx, a get answered 200 with the value written.
func latencyRun(t *testing.T, n *testNet, hc *http.Client, system, name string) latency {
	t.Helper()
	m := latency{name: name}
	var putTimes, getTimes []time.Duration
	prefix := fmt.Sprintf("lat-%s-%s-%d", system, strings.ReplaceAll(name, " ", "-"), time.Now().UnixNano())
	for i := range latencyOps {
		k := fmt.Sprintf("%s-%03d", prefix, i)
		start := time.Now()
		if status, _, err := n.apiDo(hc, 0, http.MethodPut, k, []byte(k)); err == nil && status/100 == 2 {
			putTimes = append(putTimes, time.Since(start))
		} else {
			t.Logf("%s %s: put %s: %d %v", system, name, k, status, err)
		}
	}
	for i := range latencyOps {
		k := fmt.Sprintf("%s-%03d", prefix, i)
		start := time.Now()
		if status, body, err := n.apiDo(hc, n.size-1, http.MethodGet, k, nil); err == nil && status == http.StatusOK && string(body) == k {
			getTimes = append(getTimes, time.Since(start))
		} else {
			t.Logf("%s %s: get %s: %d %q %v", system, name, k, status, body, err)
		}
	}
	m.putsOK, m.getsOK = len(putTimes), len(getTimes)
	if len(putTimes) == 0 || len(getTimes) == 0 {
		t.Fatalf("%s %s: %d of %d puts and %d of %d gets succeeded", system, name, len(putTimes), latencyOps, len(getTimes), latencyOps)
	}
	m.getP50, m.getP99, m.putP50 = pct(getTimes, 50), pct(getTimes, 99), pct(putTimes, 50)
	return m
}

// apiDo sends method on key's /v1/values URL to node i's published API
// (with the network's token, which the baseline ignores) and returns the
// status and body.
func (n *testNet) apiDo(hc *http.Client, i int, method, key string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, fmt.Sprintf("http://127.0.0.1:%d/v1/values/%s", n.apiBase+i, key), rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+n.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// loadAverage is the machine's 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}
