//go:build race

package replication

// raceOn: the race detector is on; it slows the simulations tenfold, so the
// tests that run large ones take their smaller sizes.
const raceOn = true
