//go:build race

package replication

// The kadnet tests' network under the race detector (kadnet_test.go): half
// the size, still with full far buckets (buckets of 20, 150 nodes).
const (
	kadNodes = 150
	kadKeys  = 1000
	kadEvent = 10
	// kadRace: the race detector is on. The anti-entropy case of
	// TestKadNetTablesMissingPeers (eight sweeps) takes about 5 min under
	// it on a loaded machine: it runs without it only.
	kadRace = true
)
