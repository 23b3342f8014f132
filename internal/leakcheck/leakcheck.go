// Package leakcheck fails a package's tests when goroutines outlive them.
package leakcheck

import (
	"testing"

	"go.uber.org/goleak"
)

// VerifyTestMain runs the tests, then fails if goroutines other than the
// known stragglers below are still running.
//
// LevelDB's memtable-pool goroutine outlives DB.Close by up to a second
// (goleveldb v1.0.0 waits that long for a pooled memtable), longer than
// goleak retries. It is ignored by name: a DB that is never closed still
// shows up through its compaction and journal goroutines.
func VerifyTestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"),
		// libp2p's bandwidth counters share one sweeper for the process,
		// which runs until its meters have idled (a test's counter).
		goleak.IgnoreAnyFunction("github.com/libp2p/go-flow-metrics.(*sweeper).run"))
}
