package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dhtnode/dhtnode/internal/testnet"
	"github.com/dhtnode/dhtnode/node"
)

// Prometheus servers of tests listen on a port from this block.
const promPortLow, promPortHigh = 35900, 35999

// TestPrometheusScrapesNetwork starts a real Prometheus server on loopback
// that scrapes a 3-node network with the API token, and asks it through its
// HTTP API for every node's routing-table size and, after writes, the put rate.
func TestPrometheusScrapesNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node network and a Prometheus server")
	}
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not installed (apt-get install prometheus): skipping the scrape test")
	}
	c := testnet.New(t, 3, withToken)
	var targets []string
	for i := range c.Len() {
		targets = append(targets, `"`+strings.TrimPrefix(c.Node(i).APIURL(), "http://")+`"`)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: dhtnode
    authorization:
      type: Bearer
      credentials: %q
    static_configs:
      - targets: [%s]
`, metricsToken, strings.Join(targets, ", "))
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	prom := startPrometheus(t, bin, cfgFile, filepath.Join(dir, "data"))

	// Every target scraped.
	prom.waitFor(t, `up{job="dhtnode"} == 1`, func(r []promSample) bool { return len(r) == c.Len() })
	// Every node's routing-table size: each knows the two others.
	sizes := prom.waitFor(t, `dhtnode_routing_table_peers`, func(r []promSample) bool {
		for _, s := range r {
			if s.value != 2 {
				return false
			}
		}
		return len(r) == c.Len()
	})
	seen := map[string]bool{}
	for _, s := range sizes {
		seen[s.metric["instance"]] = true
	}
	for _, target := range targets {
		if !seen[strings.Trim(target, `"`)] {
			t.Errorf("no routing-table size for %s in %v", target, sizes)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 9 {
		cl := c.Client(i % c.Len())
		if _, err := cl.Put(ctx, fmt.Sprintf("prom-%d", i), []byte("v"), node.PutOptions{}); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		cl.CloseIdleConnections()
	}
	rate := prom.waitFor(t, `sum(rate(dhtnode_requests_total{op="put",result="ok"}[30s]))`, func(r []promSample) bool {
		return len(r) == 1 && r[0].value > 0
	})
	t.Logf("put rate as Prometheus saw it: %.3f/s", rate[0].value)

	// Every query of the Grafana dashboard parses and runs (Grafana itself
	// is not tested).
	for _, q := range grafanaQueries(t) {
		if _, err := prom.query(strings.ReplaceAll(q, "$job", "dhtnode")); err != nil {
			t.Errorf("deploy/grafana-dashboard.json: %v", err)
		}
	}
}

// grafanaQueries returns the PromQL expressions of deploy/grafana-dashboard.json.
func grafanaQueries(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../deploy/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("deploy/grafana-dashboard.json: %v", err)
	}
	var out []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			out = append(out, tg.Expr)
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d queries in deploy/grafana-dashboard.json", len(out))
	}
	return out
}

// promServer is a Prometheus server started by a test.
type promServer struct{ base string }

// startPrometheus runs bin on a free loopback port of the test block and
// waits until it is ready; the test's cleanup stops it.
func startPrometheus(t *testing.T, bin, cfgFile, dataDir string) *promServer {
	t.Helper()
	addr := freeLoopbackPort(t, promPortLow, promPortHigh)
	log, err := os.Create(filepath.Join(filepath.Dir(cfgFile), "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.tsdb.path="+dataDir,
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = log.Close()
		if t.Failed() {
			out, _ := os.ReadFile(log.Name())
			t.Logf("prometheus log:\n%s", out)
		}
	})
	p := &promServer{base: "http://" + addr}
	if !testnet.Eventually(30*time.Second, func() bool {
		resp, err := http.Get(p.base + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}) {
		t.Fatal("prometheus not ready after 30 s")
	}
	return p
}

// freeLoopbackPort returns 127.0.0.1:port for a port of [lo, hi] nobody listens on.
func freeLoopbackPort(t *testing.T, lo, hi int) string {
	t.Helper()
	start := rand.IntN(hi - lo + 1)
	for i := range hi - lo + 1 {
		addr := "127.0.0.1:" + strconv.Itoa(lo+(start+i)%(hi-lo+1))
		if l, err := net.Listen("tcp", addr); err == nil {
			l.Close()
			return addr
		}
	}
	t.Fatalf("no free port in %d-%d", lo, hi)
	return ""
}

// promSample is one element of an instant query's vector.
type promSample struct {
	metric map[string]string
	value  float64
}

// query runs an instant PromQL query through the HTTP API.
func (p *promServer) query(q string) ([]promSample, error) {
	resp, err := http.Get(p.base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", q, body.Error)
	}
	out := make([]promSample, 0, len(body.Data.Result))
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: value %v", q, r.Value[1])
		}
		out = append(out, promSample{metric: r.Metric, value: v})
	}
	return out, nil
}

// waitFor repeats the query until ok accepts its result (30 s at most).
func (p *promServer) waitFor(t *testing.T, q string, ok func([]promSample) bool) []promSample {
	t.Helper()
	var last []promSample
	var lastErr error
	if testnet.Eventually(30*time.Second, func() bool {
		last, lastErr = p.query(q)
		return lastErr == nil && ok(last)
	}) {
		return last
	}
	t.Fatalf("query %s: last result %v, error %v", q, last, lastErr)
	return nil
}
