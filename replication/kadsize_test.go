//go:build !race

package replication

// The kadnet tests' network (kadnet_test.go).
const (
	kadNodes = 300
	kadKeys  = 2000
	kadEvent = 20
	kadRace  = false
)
