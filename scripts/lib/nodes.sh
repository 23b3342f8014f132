# Shared by scripts/cluster.sh (processes) and scripts/testnet.sh
# (containers): the parts of a local network script that do not depend on
# where a node runs. Source it after setting NETWORK_NAME ("cluster",
# "network") and DOWN_HINT (what '$0 down' does), and define die, api_url,
# node_alive I and log_tail I.

# http_code URL: the HTTP status of GET URL, 000 when nothing answers.
http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" || true; }

# check_index I: I must be a node of the network of SIZE nodes.
check_index() {
	[[ $1 =~ ^[0-9]+$ ]] || die "node index must be a number, not '$1'"
	(($1 < SIZE)) || die "no node $1: the $NETWORK_NAME has nodes 0 to $((SIZE - 1))"
}

# wait_for WHAT PATH I...: wait until GET PATH answers 200 on every node I,
# showing progress; on timeout or a node's death show its log and fail.
wait_for() {
	local what=$1 path=$2 deadline i ok
	shift 2
	deadline=$((SECONDS + READY_TIMEOUT))
	while true; do
		ok=0
		for i in "$@"; do
			node_alive "$i" || { echo >&2; log_tail "$i"; die "node $i exited before it was $what"; }
			if [[ $(http_code "$(api_url "$i")$path") == 200 ]]; then ok=$((ok + 1)); fi
		done
		printf '\rwaiting for %d node(s) to be %s: %d/%d ' "$#" "$what" "$ok" "$#" >&2
		((ok == $#)) && { echo >&2; return 0; }
		if ((SECONDS >= deadline)); then
			echo >&2
			for i in "$@"; do
				if [[ $(http_code "$(api_url "$i")$path") != 200 ]]; then
					echo "node $i is not $what after ${READY_TIMEOUT}s" >&2
					log_tail "$i"
				fi
			done
			die "timed out waiting for the $NETWORK_NAME; '$0 down' $DOWN_HINT"
		fi
		sleep 0.5
	done
}
