package node_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

const metricsToken = "s3cret-metrics-token"

// withToken gives every node of a test network the same API token.
func withToken(_ int, cfg *config.Config) { cfg.API.Token = metricsToken }

// scrape fetches a node's /metrics with the token and returns the raw text.
func scrape(t *testing.T, base string) []byte {
	t.Helper()
	resp, body := do(t, base, call{name: "GET /metrics", method: http.MethodGet, path: "/metrics", header: bearer(metricsToken)})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", resp.StatusCode, body)
	}
	return body
}

// bearer is the header of an API request with token.
func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// samples parses the text format into series (name and labels exactly as
// written, e.g. `dhtnode_probes_total{result="ok"}`) and values.
func samples(t *testing.T, text []byte) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("unparsable sample line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetrics checks /metrics on a real 3-node network: the token rule, the
// metric names the issue lists, request counters moving with writes,
// agreement with /v1/status, and promtool's lint.
func TestMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node network")
	}
	c := testnet.New(t, 3, withToken)
	base := c.Node(0).APIURL()

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /metrics without the token: %d, want 401", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := c.Client(0)
	defer cl.CloseIdleConnections()
	const puts = 5
	for i := range puts {
		if _, err := cl.Put(ctx, fmt.Sprintf("metrics-%d", i), []byte("v"), node.PutOptions{}); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
	if _, _, err := cl.Get(ctx, "metrics-0", 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cl.Get(ctx, "metrics-absent", 0); err == nil {
		t.Fatal("get of an absent key succeeded")
	}

	before, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	text := scrape(t, base)
	after, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := samples(t, text)

	for _, name := range []string{
		`dhtnode_build_info{go_version="` + goVersion(t, m) + `",version="` + node.Version + `"}`,
		"dhtnode_routing_table_peers", "dhtnode_connected_peers", "dhtnode_network_size_estimate",
		"dhtnode_records", "dhtnode_record_bytes", "dhtnode_records_under_replicated",
		"dhtnode_storage_max_bytes", "dhtnode_storage_full",
		`dhtnode_requests_total{op="put",result="ok"}`, `dhtnode_requests_total{op="replicas",result="error"}`,
		`dhtnode_request_duration_seconds_count{op="get"}`, "dhtnode_quorum_acks_count",
		"dhtnode_read_repairs_total", `dhtnode_repairs_total{reason="read"}`, `dhtnode_repairs_total{reason="audit"}`,
		"dhtnode_audits_total", "dhtnode_repair_bytes_total", "dhtnode_repair_lookup_bytes_total", "dhtnode_hedged_reads_total", `dhtnode_probes_total{result="ok"}`,
		`dhtnode_probes_total{result="failed"}`, "dhtnode_evictions_total", "dhtnode_rebootstraps_total",
		"dhtnode_suspicions_total", "dhtnode_recoveries_total", "dhtnode_probe_slowness",
		`dhtnode_record_requests_total{result="ok",type="get"}`, "go_goroutines", "process_resident_memory_bytes",
	} {
		if _, ok := m[name]; !ok {
			t.Errorf("missing series %s", name)
		}
	}
	if m["dhtnode_storage_max_bytes"] != float64(before.Records.MaxBytes) || m["dhtnode_storage_full"] != 0 || before.Records.Full {
		t.Errorf("storage gauges: max %v full %v, status %+v", m["dhtnode_storage_max_bytes"], m["dhtnode_storage_full"], before.Records)
	}
	for series := range m {
		for _, bad := range []string{"peer", "key=", "addr", "client"} {
			if strings.Contains(series, "{") && strings.Contains(series[strings.IndexByte(series, '{'):], bad) {
				t.Errorf("series %s has a forbidden label (%s)", series, bad)
			}
		}
	}

	// The API's own requests.
	want := map[string]float64{
		`dhtnode_requests_total{op="put",result="ok"}`:        puts,
		`dhtnode_requests_total{op="get",result="ok"}`:        1,
		`dhtnode_requests_total{op="get",result="not_found"}`: 1,
		`dhtnode_request_duration_seconds_count{op="put"}`:    puts,
		"dhtnode_quorum_acks_count":                           puts,
		`dhtnode_routing_table_peers`:                         2,
		`dhtnode_ready`:                                       1,
	}
	for series, v := range want {
		if m[series] != v {
			t.Errorf("%s = %v, want %v", series, m[series], v)
		}
	}
	// A write returns once W = 2 of the 3 holders stored it, the rest follow.
	if acks := m["dhtnode_quorum_acks_sum"]; acks < 2*puts || acks > 3*puts {
		t.Errorf("dhtnode_quorum_acks_sum = %v, want %d to %d", acks, 2*puts, 3*puts)
	}
	// Node 0 sent each new key to nodes 1 and 2 as a CREATE (the record
	// protocol's server side counts them there).
	creates := func() float64 {
		return samples(t, scrape(t, c.Node(1).APIURL()))[`dhtnode_record_requests_total{result="ok",type="create"}`] +
			samples(t, scrape(t, c.Node(2).APIURL()))[`dhtnode_record_requests_total{result="ok",type="create"}`]
	}
	if !testnet.Eventually(10*time.Second, func() bool { return creates() == 2*puts }) {
		t.Errorf("nodes 1 and 2 served %v CREATEs, want %d", creates(), 2*puts)
	}

	// Agreement with /v1/status, read just before and just after.
	between := func(name string, got float64, lo, hi uint64) {
		if got < float64(lo) || got > float64(hi) {
			t.Errorf("%s = %v, /v1/status said %d before and %d after", name, got, lo, hi)
		}
	}
	b, a := before.Replication, after.Replication
	between("repairs", m[`dhtnode_repairs_total{reason="read"}`]+m[`dhtnode_repairs_total{reason="audit"}`], b.RepairsTotal, a.RepairsTotal)
	between("audits", m["dhtnode_audits_total"], b.AuditsTotal, a.AuditsTotal)
	between("repair bytes", m["dhtnode_repair_bytes_total"], b.RepairBytesTotal, a.RepairBytesTotal)
	between("quorum reads", m["dhtnode_quorum_reads_total"], b.ReadsTotal, a.ReadsTotal)
	between("hedged reads", m["dhtnode_hedged_reads_total"], b.HedgedReadsTotal, a.HedgedReadsTotal)
	rb, ra := before.RoutingTable, after.RoutingTable
	between("probes", m[`dhtnode_probes_total{result="ok"}`]+m[`dhtnode_probes_total{result="failed"}`], rb.Probes, ra.Probes)
	between("evictions", m["dhtnode_evictions_total"], rb.Evictions, ra.Evictions)
	between("suspicions", m["dhtnode_suspicions_total"], rb.Suspicions, ra.Suspicions)
	between("recoveries", m["dhtnode_recoveries_total"], rb.Recoveries, ra.Recoveries)
	between("rebootstraps", m["dhtnode_rebootstraps_total"], rb.Rebootstraps, ra.Rebootstraps)
	between("records", m["dhtnode_records"], uint64(min(before.Records.Count, after.Records.Count)), uint64(max(before.Records.Count, after.Records.Count)))
	between("record bytes", m["dhtnode_record_bytes"], uint64(min(before.Records.Bytes, after.Records.Bytes)), uint64(max(before.Records.Bytes, after.Records.Bytes)))

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus): skipping `promtool check metrics`")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// goVersion returns the go_version label of dhtnode_build_info.
func goVersion(t *testing.T, m map[string]float64) string {
	t.Helper()
	for series := range m {
		if rest, ok := strings.CutPrefix(series, `dhtnode_build_info{go_version="`); ok {
			return rest[:strings.IndexByte(rest, '"')]
		}
	}
	t.Fatal("no dhtnode_build_info")
	return ""
}
