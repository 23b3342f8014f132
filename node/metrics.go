package node

import (
	"errors"
	"net/http"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dhtnode/dhtnode/replication"
)

// GET /metrics: the node's Prometheus metrics. Gauges and the repair,
// routing and record-protocol counters are read at scrape time from the same
// sources as /v1/status, so the two agree; the API's request counters and
// histograms are recorded by instrument (metrics_http.go). No metric has a
// key, peer ID or client address as a label.

// Label values of dhtnode_requests_total (SPEC §5 routes).
var (
	requestOps     = []string{"put", "get", "delete", "replicas", "put_batch"}
	requestResults = []string{"ok", "not_found", "quorum_failed", "conflict", "bad_request", "error"}
)

// metrics is one node's Prometheus registry and the instruments its API
// handlers record into.
type metrics struct {
	reg      *prometheus.Registry
	serve    http.Handler             // the registry in the Prometheus text (or OpenMetrics) format
	requests *prometheus.CounterVec   // op, result
	duration *prometheus.HistogramVec // op
	acks     prometheus.Histogram
	activity *activity // the dashboard's recent request history
}

func newMetrics(n *Node) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dhtnode_requests_total",
			Help: "HTTP API value requests by operation and result.",
		}, []string{"op", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "dhtnode_request_duration_seconds",
			Help:    "Time to answer an HTTP API value request, by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"op"}),
		acks: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dhtnode_quorum_acks",
			Help:    "Holders that had stored a write (put or delete) when it returned.",
			Buckets: prometheus.LinearBuckets(0, 1, n.cfg.Replication.Factor+1),
		}),
		activity: newActivity(),
	}
	// Every label combination starts at zero, so that the first request
	// of a kind shows as an increase (rate() needs a sample before it).
	for _, op := range requestOps {
		m.duration.WithLabelValues(op)
		for _, res := range requestResults {
			m.requests.WithLabelValues(op, res)
		}
	}
	m.reg.MustRegister(
		m.requests, m.duration, m.acks,
		&nodeCollector{n: n},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.serve = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

// observeWrite records how many holders acknowledged a put or delete; writes
// that failed before any holder was asked are not counted.
func (m *metrics) observeWrite(res replication.WriteResult, err error) {
	if err == nil || errors.Is(err, replication.ErrInsufficientReplicas) {
		m.acks.Observe(float64(res.Acks))
	}
}

// Descriptions of the metrics nodeCollector reads at scrape time.
var (
	descBuildInfo = prometheus.NewDesc("dhtnode_build_info",
		"Always 1; the labels name the dhtnode version and the Go version it was built with.", []string{"version", "go_version"}, nil)
	descReady = prometheus.NewDesc("dhtnode_ready",
		"1 when the node is ready (routing table not empty), else 0.", nil, nil)
	descRTPeers = prometheus.NewDesc("dhtnode_routing_table_peers",
		"Peers in the routing table.", nil, nil)
	descConnected = prometheus.NewDesc("dhtnode_connected_peers",
		"Peers the node has at least one open connection to.", nil, nil)
	descNetSize = prometheus.NewDesc("dhtnode_network_size_estimate",
		"Estimated number of peers in the network, this node included.", nil, nil)
	descRecords = prometheus.NewDesc("dhtnode_records",
		"Records (values and tombstones) stored on this node.", nil, nil)
	descRecordBytes = prometheus.NewDesc("dhtnode_record_bytes",
		"Bytes of the records stored on this node.", nil, nil)
	descStorageMax = prometheus.NewDesc("dhtnode_storage_max_bytes",
		"storage.max_bytes: the stored record bytes this node keeps at most (0: no limit).", nil, nil)
	descStorageFull = prometheus.NewDesc("dhtnode_storage_full",
		"1 when this node would refuse a new record of the largest value size (storage.max_bytes).", nil, nil)
	descUnder = prometheus.NewDesc("dhtnode_records_under_replicated",
		"Records this node has in ranges a holder may lack: held with a doubted peer (connections closed, a failed probe, or left the table) until repair is planned, then syncs planned or running, or failed.", nil, nil)
	descReadRepairs = prometheus.NewDesc("dhtnode_read_repairs_total",
		"Copies pushed to holders that answered a read with an older copy or none.", nil, nil)
	descRepairs = prometheus.NewDesc("dhtnode_repairs_total",
		"Copies pushed to holders that lacked them, by what found the gap: read (read repair) or audit (re-replication, sweeps, hand-off).", []string{"reason"}, nil)
	descAudits = prometheus.NewDesc("dhtnode_audits_total",
		"Keys whose holders repair asked for their copies.", nil, nil)
	descRepairBytes = prometheus.NewDesc("dhtnode_repair_bytes_total",
		"Bytes repair sent and received: audits, hand-offs, anti-entropy sync sessions, and the FIND_NODE requests and answers of its lookups.", nil, nil)
	descRepairBytesSent = prometheus.NewDesc("dhtnode_repair_bytes_sent_total",
		"The part of dhtnode_repair_bytes_total this node sent, plus what its audits fetched and its lookups' answers: summed over the nodes, each byte of repair traffic once.", nil, nil)
	descRepairLookups = prometheus.NewDesc("dhtnode_repair_lookups_total",
		"Lookups (one FIND_NODE round each) repair ran for the holders of a range: the ranges a pass plans, and a few of this node's regions every sweep.", nil, nil)
	descRepairLookupBytes = prometheus.NewDesc("dhtnode_repair_lookup_bytes_total",
		"The part of dhtnode_repair_bytes_total of repair's lookups: the FIND_NODE requests this node sent and the answers it received.", nil, nil)
	descReads = prometheus.NewDesc("dhtnode_quorum_reads_total",
		"Quorum reads run by this node (gets, and the reads before writes).", nil, nil)
	descHedged = prometheus.NewDesc("dhtnode_hedged_reads_total",
		"Extra holders quorum reads asked after a hedge delay.", nil, nil)
	descProbes = prometheus.NewDesc("dhtnode_probes_total",
		"Liveness probes of routing-table peers, by result (ok or failed).", []string{"result"}, nil)
	descEvictions = prometheus.NewDesc("dhtnode_evictions_total",
		"Peers evicted from the routing table after failed probes.", nil, nil)
	descSuspicions = prometheus.NewDesc("dhtnode_suspicions_total",
		"Failed probes of routing-table peers that were not suspect until then.", nil, nil)
	descRecoveries = prometheus.NewDesc("dhtnode_recoveries_total",
		"Suspect routing-table peers that answered a probe again (each starts a repair pass).", nil, nil)
	descSlowness = prometheus.NewDesc("dhtnode_probe_slowness",
		"Local health score, 0 to 3: probes wait 1+slowness times their base timeout (raised by timed-out probes, lowered by answers).", nil, nil)
	descRebootstraps = prometheus.NewDesc("dhtnode_rebootstraps_total",
		"Re-bootstrap attempts after the routing table fell below routing.min_peers.", nil, nil)
	descRecordRequests = prometheus.NewDesc("dhtnode_record_requests_total",
		"Record-protocol requests this node served, by request type and result.", []string{"type", "result"}, nil)
)

// nodeCollector reads the node's state and counters at scrape time.
type nodeCollector struct{ n *Node }

// Describe implements prometheus.Collector.
func (c *nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBuildInfo, descReady, descRTPeers, descConnected, descNetSize,
		descRecords, descRecordBytes, descStorageMax, descStorageFull, descUnder, descReadRepairs, descRepairs, descAudits, descRepairBytes, descRepairBytesSent, descRepairLookups, descRepairLookupBytes, descReads,
		descHedged, descProbes, descEvictions, descSuspicions, descRecoveries, descSlowness, descRebootstraps, descRecordRequests} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *nodeCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.n
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descBuildInfo, 1, Version, runtime.Version())
	gauge(descReady, boolGauge(n.Ready()))
	gauge(descRTPeers, float64(n.dht.RoutingTable().Size()))
	gauge(descConnected, float64(len(n.host.Network().Peers())))
	gauge(descNetSize, float64(n.networkSize()))

	st := n.repl.Stats()
	gauge(descRecords, float64(st.Records))
	gauge(descRecordBytes, float64(st.Bytes))
	gauge(descUnder, float64(st.UnderReplicated))
	usage := n.repl.StorageUsage()
	gauge(descStorageMax, float64(usage.MaxBytes))
	gauge(descStorageFull, boolGauge(usage.Full))
	counter(descReadRepairs, st.ReadRepairs)
	counter(descRepairs, st.ReadRepairs, "read")
	counter(descRepairs, st.RepairsTotal-st.ReadRepairs, "audit")
	counter(descAudits, st.AuditsTotal)
	counter(descRepairBytes, st.RepairBytes)
	counter(descRepairBytesSent, st.RepairBytesSent)
	counter(descRepairLookups, st.RepairLookups)
	counter(descRepairLookupBytes, st.RepairLookupBytes)
	counter(descReads, st.ReadsTotal)
	counter(descHedged, st.HedgedTotal)

	rs := n.routing.Stats()
	counter(descProbes, rs.Probes-rs.ProbeFailures, "ok")
	counter(descProbes, rs.ProbeFailures, "failed")
	counter(descEvictions, rs.Evictions)
	counter(descSuspicions, rs.Suspicions)
	counter(descRecoveries, rs.Recoveries)
	gauge(descSlowness, float64(rs.Slowness))
	counter(descRebootstraps, rs.Rebootstraps)

	for _, rc := range n.repl.RecordRequests() {
		counter(descRecordRequests, rc.Count, rc.Type, rc.Result)
	}
}

// networkSize estimates how many peers the network has. kad-dht's estimator
// answers once it has seen enough lookups; before that (and always in small
// networks) the routing table gives the estimate: the buckets from the first
// one that is not full on cover 1/2^j of the key space (j its common prefix
// length) and hold every peer the node can know there.
func (n *Node) networkSize() int {
	if est, err := n.dht.NetworkSize(); err == nil && est > 0 {
		return int(est)
	}
	return sizeFromBuckets(n.buckets(), n.cfg.Routing.BucketSize)
}

// sizeFromBuckets is the routing-table estimate of networkSize.
func sizeFromBuckets(buckets []BucketState, bucketSize int) int {
	first := len(buckets)
	for i, b := range buckets {
		if b.Peers < bucketSize {
			first = i
			break
		}
	}
	peers := 1 // this node
	for _, b := range buckets[first:] {
		peers += b.Peers
	}
	return peers << min(first, 40)
}

// boolGauge is a gauge's value for a flag: 1 when set.
func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
