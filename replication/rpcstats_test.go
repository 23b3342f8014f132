package replication

import "testing"

// TestRPCCountNames: the label names line up with the op and status bytes,
// and malformed requests and answers are counted as invalid.
func TestRPCCountNames(t *testing.T) {
	for op, name := range map[byte]string{opGet: "get", opPut: "put", opRead: "read", opWrite: "write", opCreate: "create", opSwap: "swap"} {
		if opNames[op] != name {
			t.Errorf("opNames[%d] = %s, want %s", op, opNames[op], name)
		}
	}
	for st, name := range map[byte]string{statusOK: "ok", statusNotFound: "not_found", statusStale: "stale", statusInvalid: "invalid",
		statusFailed: "failed", statusNotHolder: "not_holder", statusExists: "exists", statusBusy: "busy", statusSetAside: "set_aside"} {
		if statusNames[st] != name {
			t.Errorf("statusNames[%d] = %s, want %s", st, statusNames[st], name)
		}
	}
	var c rpcCounts
	c.add([]byte{opCreate, 1, 'k'}, []byte{statusExists})
	c.add(nil, nil)
	c.add([]byte{99}, []byte{99})
	if c[opCreate][statusExists].Load() != 1 || c[0][statusInvalid].Load() != 2 {
		t.Errorf("counts: create/exists %d, invalid/invalid %d", c[opCreate][statusExists].Load(), c[0][statusInvalid].Load())
	}
	(*rpcCounts)(nil).add([]byte{opGet}, []byte{statusOK}) // a server without counts
}
