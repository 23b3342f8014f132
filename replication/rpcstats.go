package replication

import "sync/atomic"

// Record-protocol request counts, kept by the serving side for metrics.

// opNames and statusNames name the request types and answer statuses of the
// record protocol as metrics label values; index 0 of opNames counts
// requests too short to carry an op.
var (
	opNames     = [...]string{"invalid", "get", "put", "read", "write", "create", "swap"}
	statusNames = [...]string{"ok", "not_found", "stale", "invalid", "failed", "not_holder", "exists", "busy", "set_aside"}
)

// rpcCounts counts served requests by op and answer status.
type rpcCounts [len(opNames)][len(statusNames)]atomic.Uint64

// add counts one request and its answer; ops and statuses it does not know
// are counted as invalid.
func (c *rpcCounts) add(req, answer []byte) {
	if c == nil {
		return
	}
	op, status := 0, int(statusInvalid)
	if len(req) > 0 && int(req[0]) < len(opNames) {
		op = int(req[0])
	}
	if len(answer) > 0 && int(answer[0]) < len(statusNames) {
		status = int(answer[0])
	}
	c[op][status].Add(1)
}

// RecordRequestCount is how many record-protocol requests of one type this
// node served with one result since it started.
type RecordRequestCount struct {
	Type   string // get, put, read, write, create, or invalid
	Result string // ok, not_found, stale, invalid, failed, not_holder, exists, busy, set_aside
	Count  uint64
}

// RecordRequests returns the served record-protocol requests by type and
// result: every type's ok count (zero too) and every other count above zero.
func (m *Manager) RecordRequests() []RecordRequestCount {
	out := make([]RecordRequestCount, 0, len(opNames)*len(statusNames))
	for op := range m.served {
		for status := range m.served[op] {
			if c := m.served[op][status].Load(); c > 0 || op > 0 && status == int(statusOK) {
				out = append(out, RecordRequestCount{Type: opNames[op], Result: statusNames[status], Count: c})
			}
		}
	}
	return out
}
