package node

import "time"

// The JSON shapes of the HTTP API (SPEC §5). The client in client.go and the
// server in http.go both use them, so the two cannot drift apart.

// StatusResponse is the body of GET /v1/status.
type StatusResponse struct {
	PeerID        string            `json:"peer_id"`
	Network       string            `json:"network"`
	Version       string            `json:"version"`
	Addrs         []string          `json:"addrs"`
	UptimeSeconds float64           `json:"uptime_seconds"`
	Ready         bool              `json:"ready"`
	Connections   int               `json:"connections"`
	RoutingTable  RoutingTableState `json:"routing_table"`
	Records       RecordsState      `json:"records"`
	Replication   ReplicationState  `json:"replication"`
	Watches       WatchesState      `json:"watches"`
}

// WatchesState counts the watches of GET /v1/watch: client streams this
// node serves, the distinct keys they watch, the holder subscriptions this
// node holds for them, and the subscriptions it serves as a holder.
type WatchesState struct {
	Clients       int `json:"clients"`
	Keys          int `json:"keys"`
	Subscriptions int `json:"subscriptions"`
	Served        int `json:"served"`
}

// RoutingTableState summarises the routing table.
type RoutingTableState struct {
	Size    int           `json:"size"`
	Buckets []BucketState `json:"buckets"`
	// Probes, Evictions and Rebootstraps count routing-table repair work since start.
	Probes       uint64 `json:"probes"`
	Evictions    uint64 `json:"evictions"`
	Rebootstraps uint64 `json:"rebootstraps"`
	// Suspicions counts failed probes of peers not suspect until then,
	// Recoveries the suspects that answered again (each a repair pass and
	// a sync of their ranges): on a starved host, flapping probes show here.
	Suspicions uint64 `json:"suspicions"`
	Recoveries uint64 `json:"recoveries"`
	// Slowness is the local health score (0 to 3): each probe that timed
	// out raised it, each answer lowered it; probes wait 1+slowness times
	// their base timeout.
	Slowness int `json:"probe_slowness"`
}

// BucketState is one k-bucket: its index (common prefix length) and peer count.
type BucketState struct {
	Index int `json:"index"`
	Peers int `json:"peers"`
}

// RecordsState summarises the records this node stores.
type RecordsState struct {
	Count           int   `json:"count"`
	Bytes           int64 `json:"bytes"`
	UnderReplicated int   `json:"under_replicated"`
	// MaxBytes is storage.max_bytes (0: no limit); Full is set when a new
	// record of the largest value size would be refused.
	MaxBytes int64 `json:"max_bytes"`
	Full     bool  `json:"full"`
}

// ReplicationState reports replication settings and repair progress.
type ReplicationState struct {
	Factor       int    `json:"factor"`
	WriteQuorum  string `json:"write_quorum"`
	ReadQuorum   string `json:"read_quorum"`
	RepairsTotal uint64 `json:"repairs_total"`
	// AuditsTotal, ReadsTotal and HedgedReadsTotal are not in SPEC §5: keys
	// whose holders repair asked for their copies, quorum reads run by this
	// node, and the holders those asked after a hedge delay.
	AuditsTotal      uint64     `json:"audits_total"`
	ReadsTotal       uint64     `json:"reads_total"`
	HedgedReadsTotal uint64     `json:"hedged_reads_total"`
	LastSweep        *time.Time `json:"last_sweep"`
	// RepairBytesTotal counts the bytes repair sent and received: audits,
	// hand-offs and anti-entropy sync sessions (issue 20), and the
	// FIND_NODE requests and answers of repair's lookups.
	RepairBytesTotal uint64 `json:"repair_bytes_total"`
	// RepairBytesSentTotal is the part of RepairBytesTotal this node sent
	// (sync requests and answers, audit pushes) plus what its audits
	// fetched and its lookups' requests and answers: summed over the nodes
	// it counts each byte of repair traffic once, where RepairBytesTotal
	// counts a sync byte on both sides.
	RepairBytesSentTotal uint64 `json:"repair_bytes_sent_total"`
	// RepairLookupsTotal (not in SPEC §5) counts the lookups repair ran
	// for the holders of a range (one FIND_NODE round each): the ranges a
	// pass plans, and a few of this node's regions every sweep (probes).
	RepairLookupsTotal uint64 `json:"repair_lookups_total"`
	// RepairLookupBytesTotal (not in SPEC §5) is the part of
	// RepairBytesTotal (and of RepairBytesSentTotal) of those lookups: the
	// FIND_NODE requests this node sent and the answers it received, as
	// the DHT stream carries them.
	RepairLookupBytesTotal uint64 `json:"repair_lookup_bytes_total"`

	// BadAnswersTotal counts holder answers whose record failed validation
	// (forged, future-dated, ...); PartialWritesTotal counts writes that
	// failed after some holders had stored them (not in SPEC §5 either).
	BadAnswersTotal    uint64 `json:"bad_answers_total"`
	PartialWritesTotal uint64 `json:"partial_writes_total"`
}

// PeerResponse is one element of GET /v1/peers.
type PeerResponse struct {
	PeerID    string     `json:"peer_id"`
	Addrs     []string   `json:"addrs"`
	Bucket    int        `json:"bucket"`
	Connected bool       `json:"connected"`
	LastSeen  *time.Time `json:"last_seen"`
	RTTMillis float64    `json:"rtt_ms"`
}

// PutResponse is the body of a successful PUT /v1/values/{key}.
type PutResponse struct {
	Key      string `json:"key"`
	Version  uint64 `json:"version"`
	Acks     int    `json:"acks"`
	Replicas int    `json:"replicas"`
}

// DeleteResponse is the body of a successful DELETE /v1/values/{key}.
type DeleteResponse struct {
	Key     string `json:"key"`
	Version uint64 `json:"version"`
	Acks    int    `json:"acks"`
}

// ReplicasResponse is the body of GET /v1/replicas/{key}.
type ReplicasResponse struct {
	Key     string `json:"key"`
	Version uint64 `json:"version"`
	// Deleted is set when the winning version is a tombstone.
	Deleted bool            `json:"deleted"`
	Holders []HolderReplica `json:"holders"`
}

// HolderReplica is what one of a key's holders stores now.
type HolderReplica struct {
	PeerID  string `json:"peer_id"`
	Version uint64 `json:"version"`
	Has     bool   `json:"has"`
	Deleted bool   `json:"deleted,omitempty"` // what it holds is a tombstone
	Self    bool   `json:"self,omitempty"`
	Error   string `json:"error,omitempty"`
}

// ErrorResponse is the body of every error reply. Acks and Needed are set
// when a write did not reach its quorum.
type ErrorResponse struct {
	Error  string `json:"error"`
	Code   string `json:"code"`
	Acks   *int   `json:"acks,omitempty"`
	Needed *int   `json:"needed,omitempty"`
}

// Error codes carried in ErrorResponse.Code.
const (
	CodeBadRequest           = "bad_request"
	CodeUnauthorized         = "unauthorized"
	CodeForbidden            = "forbidden" // a write of an owned key not signed by its owner
	CodeTooManyWatches       = "too_many_watches"
	CodeNotFound             = "not_found"
	CodeConflict             = "version_conflict"
	CodeTooLarge             = "too_large"
	CodeInsufficientReplicas = "insufficient_replicas"
	CodeShuttingDown         = "shutting_down"
	CodeTimeout              = "timeout"
	CodeInternal             = "internal"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeURITooLong           = "uri_too_long"
	CodeRateLimited          = "rate_limited" // 429: over api.rate_limit (ratelimit.go)
)

// Response headers of GET /v1/values/{key}.
const (
	HeaderVersion   = "X-Dhtnode-Version"
	HeaderWrittenAt = "X-Dhtnode-Written-At"
)
