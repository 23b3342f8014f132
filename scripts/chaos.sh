#!/usr/bin/env bash
# chaos.sh: a bounded fault-injection run with a checker (scripts/chaos).
#
#   scripts/chaos.sh [FLAGS] [-- RUN FLAGS]
#
# Starts a network with scripts/testnet.sh (default; Docker containers) or
# scripts/cluster.sh (-net scripts/cluster.sh; processes on 127.0.0.1, no
# partitions or loss), runs concurrent writers that own keys and readers,
# and a nemesis that kills, stops, freezes (SIGSTOP/SIGCONT), partitions,
# heals and adds loss, then undoes every fault and checks that every node
# reads every key's last acknowledged version or later, that no read
# returned a value never written, and that every routing table is whole.
# Prints the figures and PASS or FAIL (exit 1). Bounded: the nemesis stops
# after -faults (200) or -duration (10m), the recovery after -settle (2m).
#
#   scripts/chaos.sh                                    the full run: 8 containers, 200 faults
#   scripts/chaos.sh -faults 20 -duration 2m            a short run
#   scripts/chaos.sh -net scripts/cluster.sh -nodes 6   against local processes
#
# Other flags: -nodes, -writers (4), -keys (6 per writer), -seed, -keep.
# The network script's environment applies (TESTNET_*, CLUSTER_DIR,
# API_BASE_PORT, ...); DHTNODE_TOKEN is set to a fresh token unless given.
# Needs what the network script needs; testnet.sh and freezes need root.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export DHTNODE_TOKEN=${DHTNODE_TOKEN:-chaos-$(head -c 12 /dev/urandom | base64 | tr '+/' '-_')}
mkdir -p bin
CGO_ENABLED=0 go build -trimpath -o bin/chaos ./scripts/chaos
exec bin/chaos "$@"
