#!/usr/bin/env bash
# acceptance.sh: the user-level checks of replication and routing repair, on
# real processes started by scripts/cluster.sh, with the times they took.
#
#   scripts/acceptance.sh replication   12 nodes, 100 keys; SIGKILL k-1 = 7 nodes at once: every key
#                                       must reach every survivor and read back; restart them: every
#                                       key back on k = 8 holders and readable through a restarted node
#   scripts/acceptance.sh routing       8 nodes; SIGKILL 3: no survivor lists them; restart them: every
#                                       table holds 7; stop node 0 (the bootstrap), stop and start node 3:
#                                       it rejoins with 6 peers
#   scripts/acceptance.sh volume        issue 20's check: 10 nodes, 20,000 keys of 1 KiB loaded by 8 clients
#                                       (dhtnode load); SIGKILL 1: every live node counts 0 under-replicated
#                                       and 100 sampled keys show 8 holders; then repair bytes in each of 3
#                                       quiet minutes (VOLUME_NODES, VOLUME_KEYS, VOLUME_VALUE_SIZE, QUIET_MINUTES;
#                                       VOLUME_SETTLE: seconds at rest before the kill, default 0)
#
# Uses its own cluster dir and ports (CLUSTER_DIR=.cluster-acceptance, 4401+/5401+), default settings.
# Each wait is bounded (LIMIT seconds, default 90); the script exits 1 on the first miss.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/.cluster-acceptance} BASE_PORT=${BASE_PORT:-4401} API_BASE_PORT=${API_BASE_PORT:-5401}
LIMIT=${LIMIT:-90}
cluster() { "$ROOT/scripts/cluster.sh" "$@" >/dev/null 2>&1; }
api() { echo "http://127.0.0.1:$((API_BASE_PORT + $1))"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# waitfor DESCRIPTION COMMAND...: polls COMMAND until it succeeds, prints the time it took.
waitfor() {
	local what=$1 start
	shift
	start=$(now)
	until "$@"; do
		if awk -v a="$start" -v b="$(now)" -v l="$LIMIT" 'BEGIN { exit !(b - a > l) }'; then
			echo "FAIL: $what: not within ${LIMIT} s" >&2
			exit 1
		fi
		sleep 0.5
	done
	echo "ok: $what: $(since "$start") s"
}

trap 'cluster down' EXIT

# holders_with KEY NODE: how many of KEY's holders (per NODE) have the winning version.
holders_with() { curl -sf "$(api "$2")/v1/replicas/$1" | jq '[.holders[] | select(.has)] | length'; }
# all_keys_on N NODE: every key is on at least N up-to-date holders.
all_keys_on() {
	local k
	for k in $(seq 0 99); do
		[ "$(holders_with "key-$k" "$2" || echo 0)" -ge "$1" ] || return 1
	done
}
# all_read NODES...: every key reads back its value through the given nodes, round robin.
all_read() {
	local nodes=("$@") k
	for k in $(seq 0 99); do
		[ "$(curl -sf "$(api "${nodes[k % ${#nodes[@]}]}")/v1/values/key-$k")" = "value-$k" ] || return 1
	done
}

replication() {
	cluster down || true
	rm -rf "$CLUSTER_DIR"
	cluster up 12
	local k
	for k in $(seq 0 99); do
		curl -sf -X PUT --data-binary "value-$k" "$(api $((k % 12)))/v1/values/key-$k" >/dev/null
	done
	waitfor "100 keys written through all 12 nodes, each on 8 holders" all_keys_on 8 0
	for k in 5 6 7 8 9 10 11; do cluster kill "$k"; done
	waitfor "7 nodes SIGKILLed: every key on all 5 survivors" all_keys_on 5 0
	waitfor "... and every key reads back through the survivors" all_read 0 1 2 3 4
	for k in 5 6 7 8 9 10 11; do cluster start "$k"; done
	waitfor "7 nodes restarted: every key back on 8 holders" all_keys_on 8 6
	waitfor "... and every key reads back through restarted node 7" all_read 7
}

# rt NODE: the peer IDs in NODE's routing table.
rt() { curl -sf "$(api "$1")/v1/peers" | jq -r '.[].peer_id'; }
# tables_hold N NODES...: each node's table holds exactly N peers, none of them killed.
tables_hold() {
	local want=$1 i
	shift
	for i in "$@"; do
		local peers
		peers=$(rt "$i") || return 1
		[ "$(grep -c . <<<"$peers")" = "$want" ] || return 1
		if [ -n "${DEAD:-}" ] && grep -qFf <(echo "$DEAD") <<<"$peers"; then return 1; fi
	done
}

routing() {
	cluster down || true
	rm -rf "$CLUSTER_DIR"
	cluster up 8
	local i
	DEAD=$(for i in 5 6 7; do cat "$CLUSTER_DIR/node-$i/peer-id"; done)
	for i in 5 6 7; do cluster kill "$i"; done
	waitfor "3 of 8 SIGKILLed: every survivor lists exactly the 4 others" tables_hold 4 0 1 2 3 4
	DEAD=
	for i in 5 6 7; do cluster start "$i"; done
	waitfor "3 restarted: every table holds 7" tables_hold 7 0 1 2 3 4 5 6 7
	cluster stop 0
	cluster stop 3
	cluster start 3
	waitfor "bootstrap node 0 stopped, node 3 restarted: it holds 6" tables_hold 6 3
	waitfor "... and so does every other node" tables_hold 6 1 2 4 5 6 7
}

# live_status FIELD NODES...: jq FIELD of each node's /v1/status, one a line.
live_status() {
	local field=$1 i
	shift
	for i in "$@"; do curl -sf "$(api "$i")/v1/status" | jq -r "$field" || return 1; done
}
# none_under_replicated NODES...: every node counts 0 under-replicated records.
none_under_replicated() {
	local n
	for n in $(live_status .records.under_replicated "$@"); do [ "$n" = 0 ] || return 1; done
}
# sample_on N NODE: every sampled key has N up-to-date holders (per NODE),
# the keys asked 8 at once.
sample_on() {
	local fewest
	export -f holders_with api
	fewest=$(printf '%s\n' "${SAMPLE[@]}" | xargs -P 8 -I{} bash -c 'n=$(holders_with "$1" "$2"); echo "${n:-0}"' _ {} "$2" | sort -n | head -n 1)
	[ "${fewest:-0}" -ge "$1" ]
}
# sum_status FIELD NODES...: the sum of FIELD over the nodes.
sum_status() { live_status "$@" | awk '{ s += $1 } END { printf "%d", s }'; }

volume() {
	local nodes=${VOLUME_NODES:-10} keys=${VOLUME_KEYS:-20000} size=${VOLUME_VALUE_SIZE:-1024} minutes=${QUIET_MINUTES:-3}
	local settle=${VOLUME_SETTLE:-0}
	local clients=8 work="$CLUSTER_DIR.load" i start
	cluster down || true
	rm -rf "$CLUSTER_DIR" "$work"
	mkdir -p "$work"
	cluster up "$nodes"
	# KEY<TAB>VALUE lines; each value is size characters of base64 of random bytes (incompressible).
	paste <(seq 0 $((keys - 1)) | sed 's/^/vol-/') <(head -c $((keys * size * 3 / 4)) /dev/urandom | base64 -w "$size") |
		head -n "$keys" >"$work/keys.tsv"
	split -n l/$clients -d "$work/keys.tsv" "$work/part-"
	mapfile -t SAMPLE < <(shuf -n 100 --random-source=<(yes) "$work/keys.tsv" | cut -f1)
	start=$(now)
	for i in $(seq 0 $((clients - 1))); do
		"${DHTNODE_BIN:-$ROOT/bin/dhtnode}" load --api "$(api $((i % nodes)))" --parallel 1 "$work/part-0$i" >"$work/load-$i.log" 2>&1 &
	done
	if ! wait; then echo "FAIL: a load client failed (see $work/load-*.log)" >&2; exit 1; fi
	echo "ok: $keys keys of $size B loaded by $clients clients in $(since "$start") s ($(awk -v k="$keys" -v s="$(since "$start")" 'BEGIN { printf "%.0f", k / s }') keys/s)"
	local all=() live=()
	for ((i = 0; i < nodes; i++)); do all+=("$i"); done
	waitfor "after the load: every node counts 0 under-replicated" none_under_replicated "${all[@]}"
	waitfor "... and 100 sampled keys show 8 holders" sample_on 8 0
	echo "records per node: $(live_status .records.count "${all[@]}" | paste -sd ' ')"
	if ((settle > 0)); then
		echo "waiting ${settle} s before the kill (VOLUME_SETTLE: the start's probes back off)"
		sleep "$settle" # a network at rest, not a wait for a condition
	fi
	cluster kill $((nodes - 1))
	for ((i = 0; i < nodes - 1; i++)); do live+=("$i"); done
	start=$(now)
	waitfor "node $((nodes - 1)) SIGKILLed: 100 sampled keys show 8 holders" sample_on 8 0
	waitfor "... and every live node counts 0 under-replicated" none_under_replicated "${live[@]}"
	echo "... both $(since "$start") s after the kill"
	# The first minute after a change still has the probes of every sweep
	# (README, repair: probes back off at rest); the later ones are at rest.
	local m sent0 sent1 stored
	sent0=$(sum_status .replication.repair_bytes_sent_total "${live[@]}")
	for m in $(seq 1 "$minutes"); do
		start=$(now)
		sleep 60 # a measurement window, not a wait for a condition
		sent1=$(sum_status .replication.repair_bytes_sent_total "${live[@]}")
		stored=$(sum_status .records.bytes "${live[@]}")
		awk -v m="$m" -v b=$((sent1 - sent0)) -v s="$(since "$start")" -v st="$stored" -v n=${#live[@]} 'BEGIN {
			printf "ok: quiet minute %d (%.0f s): repair sent %d bytes by %d nodes (%.0f B/min a node), %.3f %% of the %d stored bytes per hour\n", m, s, b, n, b / n * 60 / s, b * 3600 / s * 100 / st, st }'
		sent0=$sent1
	done
	rm -rf "$work"
}

case ${1:-} in
replication | routing | volume) "$1" ;;
*) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
