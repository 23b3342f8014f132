#!/usr/bin/env bash
# cluster.sh: run a local dhtnode network on 127.0.0.1 (SPEC §6).
#
#   scripts/cluster.sh up [N] [-- FLAGS...]  build bin/dhtnode, start N nodes (default 5), wait until ready
#   scripts/cluster.sh down                  stop every node: SIGTERM, then SIGKILL after $STOP_TIMEOUT s
#   scripts/cluster.sh status                table of the nodes: alive or not, readiness, routing table, records
#   scripts/cluster.sh kill I                SIGKILL node I
#   scripts/cluster.sh stop I                SIGTERM node I and wait until it has left
#   scripts/cluster.sh start I               start node I again with its data dir, ports and flags
#   scripts/cluster.sh logs I                follow node I's log (the last 100 lines when not a terminal)
#
# Node i listens on TCP and QUIC port BASE_PORT+i and serves its API on
# 127.0.0.1:API_BASE_PORT+i; its data, log (node.log) and PID file (pid) are in
# $CLUSTER_DIR/node-i. Nodes 1.. bootstrap from node 0. FLAGS after "--" go to
# every "dhtnode run", and are kept for "start I".
#
# Environment: CLUSTER_DIR (default .cluster in the repository), BASE_PORT
# (4101), API_BASE_PORT (5101), READY_TIMEOUT (60 s), STOP_TIMEOUT (15 s),
# DHTNODE_BIN (a dhtnode binary to use instead of building bin/dhtnode),
# DHTNODE_API_TOKEN (every node requires this API token, and status sends it;
# unlike an --api-token flag it shows neither in ps nor in run-flags).
# Needs bash, Go, curl and jq.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NETWORK_NAME=cluster DOWN_HINT="stops what started"
# shellcheck source=lib/nodes.sh
source "$ROOT/scripts/lib/nodes.sh"
CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/.cluster}
case $CLUSTER_DIR in /*) ;; *) CLUSTER_DIR=$PWD/$CLUSTER_DIR ;; esac
BASE_PORT=${BASE_PORT:-4101}
API_BASE_PORT=${API_BASE_PORT:-5101}
READY_TIMEOUT=${READY_TIMEOUT:-60}
STOP_TIMEOUT=${STOP_TIMEOUT:-15}
BIN=${DHTNODE_BIN:-$ROOT/bin/dhtnode}

# Files in $CLUSTER_DIR that remember the cluster for later commands.
SIZE_FILE=$CLUSTER_DIR/size           # number of nodes
PORTS_FILE=$CLUSTER_DIR/ports         # "BASE_PORT API_BASE_PORT"
FLAGS_FILE=$CLUSTER_DIR/run-flags     # extra "dhtnode run" flags, one per line

die() { echo "cluster.sh: $*" >&2; exit 1; }
usage() { sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

node_dir() { echo "$CLUSTER_DIR/node-$1"; }
pid_of() { cat "$(node_dir "$1")/pid" 2>/dev/null || true; }
peer_id() { cat "$(node_dir "$1")/peer-id" 2>/dev/null || echo -; }
# set_nodes: NODES becomes the indexes 0..SIZE-1.
set_nodes() {
	local i
	NODES=()
	for ((i = 0; i < SIZE; i++)); do NODES+=("$i"); done
}

# load_cluster reads the size and ports of the cluster that "up" created.
load_cluster() {
	[[ -f $SIZE_FILE ]] || die "no cluster in $CLUSTER_DIR; run '$0 up' first"
	SIZE=$(<"$SIZE_FILE")
	read -r BASE_PORT API_BASE_PORT <"$PORTS_FILE"
	RUN_FLAGS=()
	local flag
	if [[ -f $FLAGS_FILE ]]; then
		while IFS= read -r flag; do RUN_FLAGS+=("$flag"); done <"$FLAGS_FILE"
	fi
}

tcp_port() { echo $((BASE_PORT + $1)); }
api_addr() { echo "127.0.0.1:$((API_BASE_PORT + $1))"; }
api_url() { echo "http://$(api_addr "$1")"; }

# is_alive PID: whether PID is a running dhtnode (not a zombie, not a reused PID).
# A node re-executes itself once as it starts (runtime tuning); in the middle
# of that execve its command line reads empty, so an empty one is read again.
is_alive() {
	local pid=$1 args tries
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
	if [[ -r /proc/$pid/cmdline ]]; then
		for ((tries = 0; tries < 20; tries++)); do
			# stderr first: the file may vanish between the test and the read
			args=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
			[[ -n $args ]] && break
			sleep 0.01
		done
		[[ $args == *dhtnode* ]]
	else
		[[ $(ps -p "$pid" -o stat= 2>/dev/null) != Z* ]] && ps -p "$pid" -o args= | grep -q dhtnode
	fi
}

node_alive() { is_alive "$(pid_of "$1")"; }

# port_busy PORT: whether something accepts TCP connections on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

check_ports_free() {
	local i=$1 p
	for p in "$(tcp_port "$i")" "$((API_BASE_PORT + i))"; do
		if port_busy "$p"; then
			die "port $p (node $i) is already in use on 127.0.0.1; stop what uses it, or set BASE_PORT / API_BASE_PORT"
		fi
	done
}

# curl_status I: node I's /v1/status body, or nothing.
curl_status() {
	local auth=()
	local token=${DHTNODE_API_TOKEN:-${DHTNODE_TOKEN:-$(run_flag_value --api-token)}}
	if [[ -n $token ]]; then auth=(-H "Authorization: Bearer $token"); fi
	curl -sf --max-time 2 ${auth[@]+"${auth[@]}"} "$(api_url "$1")/v1/status" || true
}

# run_flag_value NAME: the value of flag NAME among the saved run flags.
run_flag_value() {
	local i
	for ((i = 0; i < ${#RUN_FLAGS[@]}; i++)); do
		case ${RUN_FLAGS[i]} in
		"$1") echo "${RUN_FLAGS[i + 1]:-}"; return ;;
		"$1"=*) echo "${RUN_FLAGS[i]#*=}"; return ;;
		esac
	done
}

log_tail() {
	local log
	log="$(node_dir "$1")/node.log"
	echo "--- last lines of $log:" >&2
	tail -n 30 "$log" >&2 2>/dev/null || echo "(no log)" >&2
	echo "---" >&2
}

# init_node I: create node I's data dir and identity if new; record its peer ID.
init_node() {
	local dir id err
	dir=$(node_dir "$1")
	if ! id=$("$BIN" init --data-dir "$dir" 2>"$CLUSTER_DIR/init.err"); then
		err=$(<"$CLUSTER_DIR/init.err")
		die "dhtnode init for node $1 failed: $err"
	fi
	rm -f "$CLUSTER_DIR/init.err"
	echo "$id" >"$dir/peer-id"
}

# start_node I: launch node I in the background and record its PID.
start_node() {
	local i=$1 dir port args
	dir=$(node_dir "$i")
	port=$(tcp_port "$i")
	args=(run --data-dir "$dir"
		--listen "/ip4/127.0.0.1/tcp/$port" --listen "/ip4/127.0.0.1/udp/$port/quic-v1"
		--api "$(api_addr "$i")")
	if ((i > 0)); then
		args+=(--bootstrap "/ip4/127.0.0.1/tcp/$(tcp_port 0)/p2p/$(<"$(node_dir 0)/peer-id")")
	fi
	args+=(${RUN_FLAGS[@]+"${RUN_FLAGS[@]}"})
	printf '=== %s: dhtnode %s\n' "$(date '+%F %T')" "${args[*]}" >>"$dir/node.log"
	nohup "$BIN" "${args[@]}" </dev/null >>"$dir/node.log" 2>&1 &
	echo $! >"$dir/pid"
	wait_exec $!
}

# wait_exec PID: wait (up to 5 s) until PID runs dhtnode or has exited. Until
# the child execs, its command line is this script's, and is_alive would
# report a node that is starting as dead.
wait_exec() {
	local pid=$1 deadline=$((SECONDS + 5)) stat
	while ((SECONDS < deadline)) && ! is_alive "$pid"; do
		stat=$(ps -p "$pid" -o stat= 2>/dev/null) || return 0
		[[ $stat == Z* ]] && return 0
		sleep 0.05
	done
}

# stop_nodes SIGNAL I...: send SIGNAL to the live nodes among I..., wait until
# they exit (SIGKILL after STOP_TIMEOUT), remove their PID files.
stop_nodes() {
	local sig=$1 i pid deadline live
	shift
	for i in "$@"; do
		pid=$(pid_of "$i")
		if is_alive "$pid"; then kill "-$sig" "$pid" 2>/dev/null || true; fi
	done
	deadline=$((SECONDS + STOP_TIMEOUT))
	while true; do
		live=()
		for i in "$@"; do
			if node_alive "$i"; then live+=("$i"); fi
		done
		((${#live[@]} == 0)) && break
		if ((SECONDS >= deadline)); then
			echo "nodes ${live[*]} still running after ${STOP_TIMEOUT}s; sending SIGKILL" >&2
			for i in "${live[@]}"; do kill -KILL "$(pid_of "$i")" 2>/dev/null || true; done
			sleep 0.5
			break
		fi
		sleep 0.2
	done
	for i in "$@"; do rm -f "$(node_dir "$i")/pid"; done
}

# print_table I...: index, peer ID, API URL and PID of nodes I...
print_table() {
	local i
	printf '%-5s  %-52s  %-22s  %s\n' INDEX 'PEER ID' API PID
	for i in "$@"; do
		printf '%-5s  %-52s  %-22s  %s\n' "$i" "$(peer_id "$i")" "$(api_url "$i")" "$(pid_of "$i")"
	done
}

build() {
	if [[ -n ${DHTNODE_BIN:-} ]]; then
		[[ -x $BIN ]] || die "DHTNODE_BIN=$BIN is not an executable"
		return
	fi
	echo "building $BIN" >&2
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o bin/dhtnode ./cmd/dhtnode) || die "go build failed"
}

cmd_up() {
	local n=5 i
	if (($# > 0)) && [[ $1 != -- ]]; then n=$1; shift; fi
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "node count must be a positive number, not '$n'"
	if (($# > 0)); then
		[[ $1 == -- ]] || die "unexpected argument '$1'; flags for the nodes go after --"
		shift
	fi
	command -v curl >/dev/null || die "curl is required"
	command -v jq >/dev/null || die "jq is required"

	local base=$BASE_PORT api_base=$API_BASE_PORT
	if [[ -f $SIZE_FILE ]]; then
		load_cluster # the previous cluster, to see whether any of it still runs
		for ((i = 0; i < SIZE; i++)); do
			if node_alive "$i"; then die "a cluster is already running in $CLUSTER_DIR (node $i, PID $(pid_of "$i")); run '$0 down' first"; fi
		done
	fi
	SIZE=$n BASE_PORT=$base API_BASE_PORT=$api_base
	RUN_FLAGS=("$@")
	set_nodes
	for ((i = 0; i < SIZE; i++)); do check_ports_free "$i"; done
	build

	mkdir -p "$CLUSTER_DIR"
	echo "$SIZE" >"$SIZE_FILE"
	echo "$BASE_PORT $API_BASE_PORT" >"$PORTS_FILE"
	(umask 077 && : >"$FLAGS_FILE") # owner-only: the flags may hold a token
	if ((${#RUN_FLAGS[@]} > 0)); then printf '%s\n' "${RUN_FLAGS[@]}" >"$FLAGS_FILE"; fi
	if [[ -n $(run_flag_value --api-token) ]]; then
		echo "cluster.sh: warning: --api-token shows in ps and is kept in $FLAGS_FILE; export DHTNODE_API_TOKEN instead" >&2
	fi

	for ((i = 0; i < SIZE; i++)); do init_node "$i"; done
	start_node 0
	wait_for "serving" /healthz 0
	for ((i = 1; i < SIZE; i++)); do start_node "$i"; done
	if ((SIZE > 1)); then
		wait_for ready /readyz "${NODES[@]}"
	fi
	print_table "${NODES[@]}"
}

cmd_down() {
	if [[ ! -f $SIZE_FILE ]]; then echo "no cluster in $CLUSTER_DIR" >&2; return 0; fi
	load_cluster
	set_nodes
	stop_nodes TERM "${NODES[@]}"
	echo "cluster stopped" >&2
}

cmd_status() {
	if [[ ! -f $SIZE_FILE ]]; then echo "no cluster in $CLUSTER_DIR" >&2; return 0; fi
	load_cluster
	local i pid state ready rt records body format='%-5s  %-52s  %-22s  %-8s  %-7s  %-5s  %-7s  %s\n'
	# shellcheck disable=SC2059 # the format is the constant above
	printf "$format" INDEX 'PEER ID' API PID STATE READY 'RT SIZE' RECORDS
	for ((i = 0; i < SIZE; i++)); do
		pid=$(pid_of "$i")
		ready=- rt=- records=-
		if is_alive "$pid"; then
			state=alive
			body=$(curl_status "$i")
			if [[ -n $body ]]; then
				read -r ready rt records < <(jq -r '[.ready, .routing_table.size, .records.count] | @tsv' <<<"$body")
			fi
		elif [[ -n $pid ]]; then
			state=dead
		else
			state=stopped
		fi
		# shellcheck disable=SC2059
		printf "$format" "$i" "$(peer_id "$i")" "$(api_url "$i")" "${pid:--}" "$state" "$ready" "$rt" "$records"
	done
}

cmd_kill() {
	load_cluster
	check_index "$1"
	node_alive "$1" || die "node $1 is not running"
	kill -KILL "$(pid_of "$1")"
	local deadline=$((SECONDS + STOP_TIMEOUT))
	while node_alive "$1" && ((SECONDS < deadline)); do sleep 0.1; done
	echo "killed node $1" >&2
}

cmd_stop() {
	load_cluster
	check_index "$1"
	node_alive "$1" || die "node $1 is not running"
	stop_nodes TERM "$1"
	echo "stopped node $1" >&2
}

cmd_start() {
	load_cluster
	check_index "$1"
	local i others=0
	if node_alive "$1"; then die "node $1 is already running (PID $(pid_of "$1"))"; fi
	[[ -f $(node_dir "$1")/peer-id ]] || die "node $1 has no data dir; run '$0 up' first"
	check_ports_free "$1"
	[[ -x $BIN ]] || build
	start_node "$1"
	for ((i = 0; i < SIZE; i++)); do
		if ((i != $1)) && node_alive "$i"; then others=1; fi
	done
	if ((others)); then
		wait_for ready /readyz "$1"
	else
		wait_for serving /healthz "$1" # alone it has no peers to be ready with
	fi
	print_table "$1"
}

cmd_logs() {
	load_cluster
	check_index "$1"
	local log
	log="$(node_dir "$1")/node.log"
	[[ -f $log ]] || die "node $1 has no log yet"
	if [[ -t 1 ]]; then exec tail -n 100 -f "$log"; else tail -n 100 "$log"; fi
}

main() {
	(($# > 0)) || usage
	local cmd=$1
	shift
	case $cmd in
	up) cmd_up "$@" ;;
	down | status)
		(($# == 0)) || die "$cmd takes no arguments"
		"cmd_$cmd"
		;;
	kill | stop | start | logs)
		(($# == 1)) || die "usage: $0 $cmd I"
		"cmd_$cmd" "$1"
		;;
	-h | --help | help) usage ;;
	*) echo "cluster.sh: unknown command '$cmd'" >&2; usage ;;
	esac
}

main "$@"
