#!/usr/bin/env bash
# testnet.sh: run a dhtnode network of Docker containers on a private network,
# with real faults (README "Containers"). Same interface as scripts/cluster.sh:
#
#   scripts/testnet.sh up [N] [-- FLAGS...]  build the image, start N containers (default 5), wait until ready
#   scripts/testnet.sh down                  stop and remove the containers, their volumes and the network
#   scripts/testnet.sh status                table of the nodes: running or not, readiness, routing table, records
#   scripts/testnet.sh kill I                docker kill node I (SIGKILL)
#   scripts/testnet.sh stop I                docker stop node I (SIGTERM to dhtnode, PID 1: the graceful leave)
#   scripts/testnet.sh start I               start node I again (same volume, new IP), wait until ready
#   scripts/testnet.sh logs I                node I's log (followed on a terminal)
#   scripts/testnet.sh partition A-B C-D ... nodes in different groups cannot reach each other (both directions);
#                                            a group is indexes and ranges joined by commas, e.g. 0,2,4-5
#   scripts/testnet.sh heal                  remove the partition
#   scripts/testnet.sh netem "delay 25ms loss 2%" | off   delay and/or drop every node's outgoing packets
#
# Node i runs in container $TESTNET_NAME-i on the Docker network $TESTNET_NAME
# (subnet $TESTNET_SUBNET), listens on 4001 TCP and QUIC in its container,
# and its API is published on 127.0.0.1:API_BASE_PORT+i only. Its data is the
# volume $TESTNET_NAME-data-i. Nodes 1.. bootstrap from /dns4/$TESTNET_NAME-0.
# FLAGS after "--" go to every "dhtnode run" and are kept for "start I".
#
# The API listens on the container's addresses, so it needs a token: the
# nodes use $DHTNODE_TOKEN, or a random one saved in $TESTNET_DIR/token that
# "up" prints; clients send it (export DHTNODE_TOKEN=...).
#
# Faults are iptables rules in each container's network namespace, set from
# the host with nsenter, so the image stays minimal: partitions DROP the other
# groups' addresses; netem loss drops outgoing packets at random (statistic
# match); netem delay sends them to an NFQUEUE that scripts/netdelay holds
# (this kernel has no netem qdisc). API traffic (port 5001) is exempt from
# netem. Faults are applied again when a node starts (its namespace is new).
#
# TESTNET_SYSTEM=baseline runs the benchmark's baseline node instead
# (vanilla go-libp2p-kad-dht, scripts/bench/baseline; image from
# "scripts/image.sh --baseline", for benchmarks only): same ports, no
# volume, no token; nodes 1.. bootstrap from node 0's address and peer ID,
# which it prints once started; its records live in memory, so a restarted
# node starts empty. FLAGS after "--" go to every baseline.
#
# Environment: TESTNET_SYSTEM (dhtnode or baseline), TESTNET_DIR (default .testnet in the repository), TESTNET_NAME
# (dhtnode-testnet), TESTNET_SUBNET (10.218.18.0/24), API_BASE_PORT (5101),
# BASE_PORT (accepted for cluster.sh's sake; unused: nodes listen on 4001),
# READY_TIMEOUT (60 s), STOP_TIMEOUT (15 s; above shutdown_timeout),
# DHTNODE_IMAGE (an image to use instead of building dhtnode:testnet, or
# dhtnode-baseline:testnet, with scripts/image.sh), DHTNODE_TOKEN, NETDELAY_BIN (a netdelay binary).
# Needs bash, Go, Docker, curl, jq, iptables, nsenter, flock; root for nsenter.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NETWORK_NAME=network DOWN_HINT="removes what started"
# shellcheck source=lib/nodes.sh
source "$ROOT/scripts/lib/nodes.sh"
TESTNET_DIR=${TESTNET_DIR:-$ROOT/.testnet}
case $TESTNET_DIR in /*) ;; *) TESTNET_DIR=$PWD/$TESTNET_DIR ;; esac
TESTNET_NAME=${TESTNET_NAME:-dhtnode-testnet}
TESTNET_SUBNET=${TESTNET_SUBNET:-10.218.18.0/24}
API_BASE_PORT=${API_BASE_PORT:-5101}
READY_TIMEOUT=${READY_TIMEOUT:-60}
STOP_TIMEOUT=${STOP_TIMEOUT:-15}
SYSTEM=${TESTNET_SYSTEM:-dhtnode}
case $SYSTEM in
dhtnode) IMAGE=${DHTNODE_IMAGE:-dhtnode:testnet} ;;
baseline) IMAGE=${DHTNODE_IMAGE:-dhtnode-baseline:testnet} ;;
*) echo "testnet.sh: TESTNET_SYSTEM must be dhtnode or baseline, not '$SYSTEM'" >&2; exit 2 ;;
esac
NETDELAY=${NETDELAY_BIN:-$TESTNET_DIR/netdelay}
NFQUEUE=18 # the NFQUEUE number netem delay uses in every container

# Files in $TESTNET_DIR that remember the network for later commands.
STATE_FILE=$TESTNET_DIR/state         # "SIZE API_BASE_PORT NAME IMAGE SUBNET SYSTEM"
FLAGS_FILE=$TESTNET_DIR/run-flags     # extra "dhtnode run" flags, one per line
TOKEN_FILE=$TESTNET_DIR/token         # the API token
PARTITION_FILE=$TESTNET_DIR/partition # the groups of "partition", while one holds
NETEM_FILE=$TESTNET_DIR/netem         # the netem spec, while one holds

die() { echo "testnet.sh: $*" >&2; exit 1; }
usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

container() { echo "$TESTNET_NAME-$1"; }
volume() { echo "$TESTNET_NAME-data-$1"; }
api_url() { echo "http://127.0.0.1:$((API_BASE_PORT + $1))"; }
peer_id() { cat "$TESTNET_DIR/peer-id-$1" 2>/dev/null || echo -; }

load_net() {
	[[ -f $STATE_FILE ]] || die "no test network in $TESTNET_DIR; run '$0 up' first"
	read -r SIZE API_BASE_PORT TESTNET_NAME IMAGE TESTNET_SUBNET SYSTEM <"$STATE_FILE"
	SYSTEM=${SYSTEM:-dhtnode}
	RUN_FLAGS=()
	local flag
	if [[ -f $FLAGS_FILE ]]; then
		while IFS= read -r flag; do RUN_FLAGS+=("$flag"); done <"$FLAGS_FILE"
	fi
	TOKEN=$(<"$TOKEN_FILE")
}

# running I: whether node I's container runs.
running() { [[ $(docker inspect -f '{{.State.Running}}' "$(container "$1")" 2>/dev/null) == true ]]; }
node_alive() { running "$1"; }
# pid_of I: the host PID of node I's dhtnode (its container's PID 1).
pid_of() { docker inspect -f '{{.State.Pid}}' "$(container "$1")" 2>/dev/null || echo 0; }
# ip_of I: node I's address on the test network.
ip_of() { docker inspect -f "{{(index .NetworkSettings.Networks \"$TESTNET_NAME\").IPAddress}}" "$(container "$1")" 2>/dev/null || true; }

# load_pids: PIDS[i] and IPS[i] of every running node (empty when not
# running), with one docker inspect.
load_pids() {
	local i names=() name pid ip
	PIDS=() IPS=()
	for ((i = 0; i < SIZE; i++)); do names+=("$(container "$i")"); done
	while read -r name pid ip; do
		i=${name##*-}
		if [[ $pid != 0 ]]; then PIDS[i]=$pid IPS[i]=$ip; fi
	done < <(docker inspect -f "{{.Name}} {{.State.Pid}} {{with index .NetworkSettings.Networks \"$TESTNET_NAME\"}}{{.IPAddress}}{{end}}" "${names[@]}" 2>/dev/null || true)
}

# in_ns I CMD...: run CMD in node I's network namespace (PIDS from load_pids).
in_ns() {
	local i=$1
	shift
	nsenter -t "${PIDS[i]}" -n "$@"
}

curl_status() { curl -sf --max-time 2 -H "Authorization: Bearer $TOKEN" "$(api_url "$1")/v1/status" || true; }

log_tail() {
	echo "--- last lines of node $1's log:" >&2
	docker logs --tail 30 "$(container "$1")" >&2 2>&1 || echo "(no log)" >&2
	echo "---" >&2
}

print_table() {
	local i
	printf '%-5s  %-52s  %-22s  %-15s  %s\n' INDEX 'PEER ID' API IP PID
	for i in "$@"; do
		printf '%-5s  %-52s  %-22s  %-15s  %s\n' "$i" "$(peer_id "$i")" "$(api_url "$i")" "$(ip_of "$i")" "$(pid_of "$i")"
	done
}

build_image() {
	if [[ -n ${DHTNODE_IMAGE:-} ]]; then
		docker image inspect "$IMAGE" >/dev/null 2>&1 || die "DHTNODE_IMAGE=$IMAGE is not an image here"
		return
	fi
	local opts=()
	[[ $SYSTEM == dhtnode ]] || opts=(--baseline)
	"$ROOT/scripts/image.sh" ${opts[@]+"${opts[@]}"} "$IMAGE" >&2 || die "building the image failed"
}

build_netdelay() {
	[[ -x $NETDELAY ]] && return
	[[ -z ${NETDELAY_BIN:-} ]] || die "NETDELAY_BIN=$NETDELAY is not an executable"
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$NETDELAY" ./scripts/netdelay) || die "building netdelay failed"
}

# init_node I: create node I's volume and identity (dhtnode init in the image).
init_node() {
	local id
	docker volume create --label "dhtnode.testnet=$TESTNET_NAME" "$(volume "$1")" >/dev/null
	id=$(docker run --rm --network none -v "$(volume "$1"):/data" "$IMAGE" init --data-dir /data 2>"$TESTNET_DIR/init.err") ||
		die "dhtnode init for node $1 failed: $(<"$TESTNET_DIR/init.err")"
	rm -f "$TESTNET_DIR/init.err"
	echo "$id" >"$TESTNET_DIR/peer-id-$1"
}

# save_peer_id I: ask running node I for its peer ID (the baseline makes
# one when it starts) and remember it.
save_peer_id() {
	local id
	id=$(curl_status "$1" | jq -r '.peer_id // empty')
	[[ -n $id ]] || die "node $1 does not report its peer ID"
	echo "$id" >"$TESTNET_DIR/peer-id-$1"
}

# create_baseline I: create and start baseline node I's container.
create_baseline() {
	local i=$1 args=()
	if ((i > 0)); then args+=(-bootstrap "/ip4/$(ip_of 0)/tcp/4001/p2p/$(peer_id 0)"); fi
	args+=(${RUN_FLAGS[@]+"${RUN_FLAGS[@]}"})
	docker run -d --name "$(container "$i")" --hostname "$(container "$i")" \
		--label "dhtnode.testnet=$TESTNET_NAME" --network "$TESTNET_NAME" \
		-p "127.0.0.1:$((API_BASE_PORT + i)):5001" --stop-timeout "$STOP_TIMEOUT" \
		"$IMAGE" ${args[@]+"${args[@]}"} >/dev/null || die "docker run for node $i failed"
}

# create_node I: create and start node I's container.
create_node() {
	local i=$1 args=(run)
	if [[ $SYSTEM == baseline ]]; then create_baseline "$i"; return; fi
	if ((i > 0)); then args+=(--bootstrap "/dns4/$(container 0)/tcp/4001/p2p/$(peer_id 0)"); fi
	args+=(${RUN_FLAGS[@]+"${RUN_FLAGS[@]}"})
	docker run -d --name "$(container "$i")" --hostname "$(container "$i")" \
		--label "dhtnode.testnet=$TESTNET_NAME" --network "$TESTNET_NAME" \
		-p "127.0.0.1:$((API_BASE_PORT + i)):5001" -v "$(volume "$i"):/data" \
		-e "DHTNODE_API_TOKEN=$TOKEN" --stop-timeout "$STOP_TIMEOUT" \
		"$IMAGE" "${args[@]}" >/dev/null || die "docker run for node $i failed"
}

cmd_up() {
	local n=5 i
	if (($# > 0)) && [[ $1 != -- ]]; then n=$1; shift; fi
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "node count must be a positive number, not '$n'"
	if (($# > 0)); then
		[[ $1 == -- ]] || die "unexpected argument '$1'; flags for the nodes go after --"
		shift
	fi
	for c in docker curl jq iptables nsenter; do command -v "$c" >/dev/null || die "$c is required"; done
	[[ $TESTNET_SUBNET =~ ^[0-9]+\.[0-9]+\.[0-9]+\.0/24$ ]] || die "TESTNET_SUBNET must be an IPv4 /24 such as 10.218.18.0/24, not '$TESTNET_SUBNET'"
	[[ ! -f $STATE_FILE ]] || die "a test network is already set up in $TESTNET_DIR; run '$0 down' first"
	docker network inspect "$TESTNET_NAME" >/dev/null 2>&1 && die "Docker network $TESTNET_NAME exists already; set TESTNET_NAME or remove it"
	SIZE=$n
	RUN_FLAGS=("$@")
	build_image

	mkdir -p "$TESTNET_DIR"
	TOKEN=${DHTNODE_TOKEN:-$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')}
	(umask 077 && echo "$TOKEN" >"$TOKEN_FILE")
	echo "$SIZE $API_BASE_PORT $TESTNET_NAME $IMAGE $TESTNET_SUBNET $SYSTEM" >"$STATE_FILE"
	: >"$FLAGS_FILE"
	if ((${#RUN_FLAGS[@]} > 0)); then printf '%s\n' "${RUN_FLAGS[@]}" >"$FLAGS_FILE"; fi
	rm -f "$PARTITION_FILE" "$NETEM_FILE"

	docker network create --driver bridge --subnet "$TESTNET_SUBNET" \
		--label "dhtnode.testnet=$TESTNET_NAME" "$TESTNET_NAME" >/dev/null ||
		die "creating the Docker network $TESTNET_NAME ($TESTNET_SUBNET) failed; pick another TESTNET_SUBNET"
	local nodes=()
	for ((i = 0; i < SIZE; i++)); do
		[[ $SYSTEM == baseline ]] || init_node "$i"
		nodes+=("$i")
	done
	create_node 0
	wait_for serving /healthz 0
	[[ $SYSTEM == dhtnode ]] || save_peer_id 0
	for ((i = 1; i < SIZE; i++)); do create_node "$i"; done
	if ((SIZE > 1)); then wait_for ready /readyz "${nodes[@]}"; fi
	if [[ $SYSTEM == baseline ]]; then
		for ((i = 1; i < SIZE; i++)); do save_peer_id "$i"; done
	fi
	print_table "${nodes[@]}"
	if [[ -z ${DHTNODE_TOKEN:-} ]]; then echo "API token: export DHTNODE_TOKEN=$TOKEN" >&2; fi
}

cmd_down() {
	if [[ ! -f $STATE_FILE ]]; then echo "no test network in $TESTNET_DIR" >&2; return 0; fi
	load_net
	local i names=() vols=()
	stop_delayers
	for ((i = 0; i < SIZE; i++)); do names+=("$(container "$i")") vols+=("$(volume "$i")"); done
	docker stop -t "$STOP_TIMEOUT" "${names[@]}" >/dev/null 2>&1 || true
	docker rm -f "${names[@]}" >/dev/null 2>&1 || true
	docker volume rm "${vols[@]}" >/dev/null 2>&1 || true
	docker network rm "$TESTNET_NAME" >/dev/null 2>&1 || true
	rm -f "$STATE_FILE" "$FLAGS_FILE" "$TOKEN_FILE" "$PARTITION_FILE" "$NETEM_FILE" "$TESTNET_DIR"/peer-id-* "$TESTNET_DIR/next-host"
	echo "test network removed" >&2
}

cmd_status() {
	if [[ ! -f $STATE_FILE ]]; then echo "no test network in $TESTNET_DIR" >&2; return 0; fi
	load_net
	local i state pid ready rt records body format='%-5s  %-52s  %-22s  %-8s  %-8s  %-5s  %-7s  %-7s  %s\n'
	# shellcheck disable=SC2059 # the format is the constant above
	printf "$format" INDEX 'PEER ID' API PID STATE READY 'RT SIZE' RECORDS IP
	load_pids
	for ((i = 0; i < SIZE; i++)); do
		ready=- rt=- records=- pid=${PIDS[i]:--}
		state=$(docker inspect -f '{{.State.Status}}' "$(container "$i")" 2>/dev/null || echo missing)
		if [[ $state == running ]]; then
			body=$(curl_status "$i")
			if [[ -n $body ]]; then
				read -r ready rt records < <(jq -r '[.ready, .routing_table.size, .records.count] | @tsv' <<<"$body")
			fi
		fi
		# shellcheck disable=SC2059
		printf "$format" "$i" "$(peer_id "$i")" "$(api_url "$i")" "$pid" "$state" "$ready" "$rt" "$records" "${IPS[i]:--}"
	done
	[[ ! -f $PARTITION_FILE ]] || echo "partition: $(<"$PARTITION_FILE")"
	[[ ! -f $NETEM_FILE ]] || echo "netem: $(<"$NETEM_FILE")"
}

cmd_kill() {
	load_net
	check_index "$1"
	running "$1" || die "node $1 is not running"
	docker kill "$(container "$1")" >/dev/null
	stop_delayer "$1"
	echo "killed node $1" >&2
}

cmd_stop() {
	load_net
	check_index "$1"
	running "$1" || die "node $1 is not running"
	docker stop -t "$STOP_TIMEOUT" "$(container "$1")" >/dev/null
	stop_delayer "$1"
	echo "stopped node $1" >&2
}

cmd_start() {
	load_net
	check_index "$1"
	local i others=0
	running "$1" && die "node $1 is already running"
	move_node "$1"
	docker start "$(container "$1")" >/dev/null || die "docker start for node $1 failed"
	apply_faults
	for ((i = 0; i < SIZE; i++)); do
		if ((i != $1)) && running "$i"; then others=1; fi
	done
	if ((others)); then wait_for ready /readyz "$1"; else wait_for serving /healthz "$1"; fi
	[[ $SYSTEM == dhtnode ]] || save_peer_id "$1" # a new identity every start
	print_table "$1"
}

# move_node I: give stopped node I a new address, as a restarted host or pod
# gets (Docker would hand it its old one back): the next free one from .128 up.
move_node() {
	local c n tries next_file=$TESTNET_DIR/next-host
	c=$(container "$1")
	load_pids
	n=$(cat "$next_file" 2>/dev/null || echo 128)
	for ((tries = 0; tries < 127; tries++)); do
		((n >= 128 && n <= 254)) || n=128
		[[ " ${IPS[*]} " == *" ${TESTNET_SUBNET%.*}.$n "* ]] || break
		n=$((n + 1))
	done
	echo $((n + 1)) >"$next_file"
	docker network disconnect "$TESTNET_NAME" "$c" >/dev/null 2>&1 || true
	docker network connect --ip "${TESTNET_SUBNET%.*}.$n" "$TESTNET_NAME" "$c" || die "connecting node $1 to $TESTNET_NAME failed"
}

cmd_logs() {
	load_net
	check_index "$1"
	if [[ -t 1 ]]; then exec docker logs --tail 100 -f "$(container "$1")"; fi
	docker logs --tail 100 "$(container "$1")" 2>&1
}

# ---- faults -----------------------------------------------------------------

# parse_groups GROUP...: check the groups of node indexes, each a
# comma-separated list of indexes and ranges ("0-3", "0,2,5-7"); sets
# GROUP[i] to the group number of each node named.
parse_groups() {
	local g=0 spec part a b i
	GROUP=()
	(($# >= 2)) || die "partition needs at least two groups, e.g. 'partition 0-5 6-7'"
	for spec in "$@"; do
		for part in ${spec//,/ }; do
			[[ $part =~ ^([0-9]+)(-([0-9]+))?$ ]] || die "bad group '$spec': want ranges A-B or indexes A, separated by commas"
			a=${BASH_REMATCH[1]} b=${BASH_REMATCH[3]:-${BASH_REMATCH[1]}}
			((a <= b)) || die "bad group '$spec': $a > $b"
			check_index "$b"
			for ((i = a; i <= b; i++)); do
				[[ -z ${GROUP[i]:-} ]] || die "node $i is in two groups"
				GROUP[i]=$g
			done
		done
		g=$((g + 1))
	done
}

# set_chain I CHAIN HOOKS RULE...: make CHAIN in node I's namespace hold
# exactly RULEs (iptables-restore flushes a chain it declares), jumped to
# once from each of the space-separated HOOKS.
set_chain() {
	local i=$1 chain=$2 hooks=$3 current hook rule
	shift 3
	current=$(in_ns "$i" iptables -w -S)
	{
		echo '*filter'
		echo ":$chain - [0:0]"
		for hook in $hooks; do
			[[ $current == *"-A $hook -j $chain"* ]] || echo "-I $hook 1 -j $chain"
		done
		for rule in "$@"; do echo "-A $chain $rule"; done
		echo COMMIT
	} | in_ns "$i" iptables-restore -w --noflush
}

# stopped_meanwhile I: after setting node I's rules failed, succeed if the
# node stopped meanwhile ("start I" sets them in its new namespace), else
# fail.
stopped_meanwhile() {
	running "$1" && die "setting node $1's iptables rules failed"
	echo "node $1 stopped while its rules were set; they are set again when it starts" >&2
}

# apply_partition: the DROP rules of $PARTITION_FILE in every running node;
# without the file, empty chains.
apply_partition() {
	local i j rules
	GROUP=()
	if [[ -f $PARTITION_FILE ]]; then
		# shellcheck disable=SC2046 # the saved groups are words
		parse_groups $(<"$PARTITION_FILE")
	fi
	load_pids
	for ((i = 0; i < SIZE; i++)); do
		[[ -n ${PIDS[i]:-} ]] || continue
		rules=()
		for ((j = 0; j < SIZE; j++)); do
			[[ -n ${GROUP[i]:-} && -n ${IPS[j]:-} && -n ${GROUP[j]:-} && ${GROUP[j]} != "${GROUP[i]}" ]] || continue
			rules+=("-s ${IPS[j]} -j DROP" "-d ${IPS[j]} -j DROP")
		done
		set_chain "$i" DHTNODE-PARTITION "INPUT OUTPUT" ${rules[@]+"${rules[@]}"} || stopped_meanwhile "$i"
	done
}

# parse_netem SPEC: sets DELAY (e.g. 25ms, or empty) and LOSS (a probability, or empty).
parse_netem() {
	local words w
	read -r -a words <<<"$1"
	DELAY='' LOSS=''
	((${#words[@]} > 0)) || die "netem needs a spec such as \"delay 25ms loss 2%\", or off"
	for ((w = 0; w < ${#words[@]}; w += 2)); do
		case ${words[w]} in
		delay)
			[[ ${words[w + 1]:-} =~ ^[0-9]+(ms|s)$ ]] || die "bad delay '${words[w + 1]:-}': want e.g. 25ms"
			DELAY=${words[w + 1]}
			;;
		loss)
			[[ ${words[w + 1]:-} =~ ^([0-9]+(\.[0-9]+)?)%$ ]] || die "bad loss '${words[w + 1]:-}': want e.g. 2%"
			LOSS=$(awk -v p="${BASH_REMATCH[1]}" 'BEGIN { if (p > 100) exit 1; printf "%.4f", p / 100 }') || die "loss over 100%"
			;;
		*) die "bad netem spec '$1': want 'delay Nms' and/or 'loss P%'" ;;
		esac
	done
}

stop_delayer() {
	local pid_file=$TESTNET_DIR/netdelay-$1.pid pid
	[[ -f $pid_file ]] || return 0
	pid=$(<"$pid_file")
	if kill -0 "$pid" 2>/dev/null && grep -q netdelay "/proc/$pid/cmdline" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		# Wait (bounded) until it has let go of the queue, or a new delayer
		# of the same namespace could not bind it.
		local deadline=$((SECONDS + 5))
		while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
	fi
	rm -f "$pid_file"
}

stop_delayers() {
	local i
	for ((i = 0; i < SIZE; i++)); do stop_delayer "$i"; done
}

# apply_netem: the loss and delay of $NETEM_FILE in every running node;
# without the file, empty chains and no delayers.
apply_netem() {
	local i spec='' rules
	DELAY='' LOSS=''
	if [[ -f $NETEM_FILE ]]; then spec=$(<"$NETEM_FILE"); parse_netem "$spec"; fi
	[[ -z $DELAY ]] || build_netdelay
	load_pids
	for ((i = 0; i < SIZE; i++)); do
		stop_delayer "$i"
		[[ -n ${PIDS[i]:-} ]] || continue
		rules=()
		if [[ -n $spec ]]; then
			rules+=("! -o eth0 -j RETURN" "-p tcp --sport 5001 -j RETURN") # the API's replies are not slowed
			[[ -z $LOSS ]] || rules+=("-m statistic --mode random --probability $LOSS -j DROP")
		fi
		if [[ -n $DELAY ]]; then
			# nsenter enters the namespace and execs netdelay: $! is netdelay's PID.
			nohup nsenter -t "${PIDS[i]}" -n "$NETDELAY" delay --queue "$NFQUEUE" --delay "$DELAY" \
				</dev/null >>"$TESTNET_DIR/netdelay-$i.log" 2>&1 9>&- & # 9: not the lock
			echo $! >"$TESTNET_DIR/netdelay-$i.pid"
			rules+=("-j NFQUEUE --queue-num $NFQUEUE --queue-bypass")
		fi
		set_chain "$i" DHTNODE-NETEM OUTPUT ${rules[@]+"${rules[@]}"} || stopped_meanwhile "$i"
	done
}

# lock_faults: hold $TESTNET_DIR/faults.lock (until the script exits or
# closes fd 9), so that commands run at once (a start beside a partition)
# set the rules of one saved state, not a mix.
lock_faults() {
	exec 9>"$TESTNET_DIR/faults.lock"
	flock -w 60 9 || die "another testnet.sh holds $TESTNET_DIR/faults.lock"
}

apply_faults() {
	lock_faults
	apply_partition
	apply_netem
	exec 9>&- # "start" waits for readiness without the lock
}

cmd_partition() {
	load_net
	parse_groups "$@"
	lock_faults
	echo "$*" >"$PARTITION_FILE"
	apply_partition
	echo "partitioned: $*" >&2
}

cmd_heal() {
	load_net
	lock_faults
	rm -f "$PARTITION_FILE"
	apply_partition
	echo "healed" >&2
}

cmd_netem() {
	load_net
	lock_faults
	if [[ $1 == off ]]; then
		rm -f "$NETEM_FILE"
	else
		parse_netem "$1"
		echo "$1" >"$NETEM_FILE"
	fi
	apply_netem
	echo "netem: $1" >&2
}

main() {
	(($# > 0)) || usage
	local cmd=$1
	shift
	case $cmd in
	up) cmd_up "$@" ;;
	down | status | heal)
		(($# == 0)) || die "$cmd takes no arguments"
		"cmd_$cmd"
		;;
	kill | stop | start | logs)
		(($# == 1)) || die "usage: $0 $cmd I"
		"cmd_$cmd" "$1"
		;;
	partition) cmd_partition "$@" ;;
	netem)
		(($# == 1)) || die "usage: $0 netem \"delay 25ms loss 2%\" | off"
		cmd_netem "$1"
		;;
	-h | --help | help) usage ;;
	*) echo "testnet.sh: unknown command '$cmd'" >&2; usage ;;
	esac
}

main "$@"
