//go:build race

package replication

// The kadnet tests' network under the race detector (kadnet_test.go): half
// the size, still with full far buckets (buckets of 20, 150 nodes).
const (
	kadNodes = 150
	kadKeys  = 1000
	kadEvent = 10
)
