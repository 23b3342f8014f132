#!/usr/bin/env bash
# Benchmarks dhtnode against vanilla go-libp2p-kad-dht (scripts/bench/baseline).
# Builds bin/dhtnode, bin/baseline and bin/bench, then runs bin/bench with
# the arguments given. With no arguments it runs the standard benchmark:
# N=20 and N=50, both systems, 10 s of idle CPU once the routing tables
# settle, 200 puts + 200 gets of 256-byte values with
# 8 concurrent clients and serially, then SIGKILL 30% and 20% more of the
# nodes with 30 s waits. Quick mode (about a minute per system):
#   scripts/bench.sh -nodes 10 -puts 50 -gets 50 -wait 5s -idle 2s
# Volume mode (issue 20; N=20 and 1 KiB values unless -nodes/-value-size say
# otherwise): load -keys keys with 8 clients, then disk, RSS and records per
# node, CPU and repair bytes over a 60 s rest (-rest; the repair counters are
# read each minute, and with -rest over -rest-skip a steady window leaves out
# the first minute; traffic sums repair_bytes_sent_total, each byte once),
# time until every key is back
# on k holders after 1 node and then 25 % more are SIGKILLed, and a fresh
# node's catch-up:
#   scripts/bench.sh -keys 10000
# With -batch N, dhtnode's 8 clients load batches of N keys (POST /v1/values)
# instead of one PUT per key; the report still counts puts (keys) per second
# and CPU per key, and adds the batch size and the batches' own latency:
#   scripts/bench.sh -keys 10000 -systems dhtnode -batch 64
# Extra `dhtnode run` flags go after "--". See `bin/bench -h` for every flag.
# Output: a table per cluster size and one line starting with "BENCH_JSON ".
# Ports: libp2p 7100+i, HTTP 8100+i (scripts/cluster.sh uses 4101+/5101+).
set -euo pipefail
cd "$(dirname "$0")/.."

mkdir -p bin
CGO_ENABLED=0 go build -trimpath -o bin/dhtnode ./cmd/dhtnode # static, as shipped
go build -o bin/baseline ./scripts/bench/baseline
go build -o bin/bench ./scripts/bench
exec bin/bench "$@"
