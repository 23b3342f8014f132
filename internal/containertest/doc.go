// Package containertest holds the tests that cross a real network: each
// dhtnode runs in its own Docker container on a private network that
// scripts/testnet.sh creates, with partitions, loss and delay injected in the
// containers' network namespaces. The tests skip, saying why, when no Docker
// engine answers, when not run as root (nsenter), or with -short.
package containertest
