#!/bin/sh
# Starts a three-node raftlock cluster on loopback and stops it on Ctrl-C.
# See README.md next to this script.
#
# Environment (all optional):
#   DATA_DIR   keep the nodes' data and logs here, across runs; default: a
#              temporary directory, removed on exit
#   HOST       address to listen on (default 127.0.0.1)
#   RAFT_PORT  Raft port of node 1; nodes 2 and 3 take the next ones (7001)
#   API_PORT   client API port of node 1; likewise (7101)
#   RAFTLOCK_* passed on to every node, e.g. RAFTLOCK_LOG_LEVEL=debug
set -eu

HOST=${HOST:-127.0.0.1}
RAFT_PORT=${RAFT_PORT:-7001}
API_PORT=${API_PORT:-7101}
NODES="1 2 3"

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
command -v go >/dev/null 2>&1 || { echo "run.sh: go is not on PATH" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/raftlock-cluster.XXXXXX")
pids=""

# stop ends every node gracefully (SIGTERM: a leader hands over leadership
# first) and waits for them, whatever the reason the script ends.
stop() {
	status=$?
	trap - EXIT
	trap '' INT TERM # a second Ctrl-C must not cut the shutdown short
	if [ -n "$pids" ]; then
		echo "stopping the cluster..."
		for pid in $pids; do kill -TERM "$pid" 2>/dev/null || :; done
		for pid in $pids; do wait "$pid" 2>/dev/null || :; done
	fi
	rm -rf "$work"
	exit "$status"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "building raftlock..."
(cd "$root" && go build -o "$work/raftlock" ./cmd/raftlock)

data=${DATA_DIR:-$work/data}
mkdir -p "$data"

# Every node gets the full list in --join, so a node restarted on a kept
# DATA_DIR can confirm its membership through whichever member is up.
endpoints=""
for i in $NODES; do
	endpoints=${endpoints:+$endpoints,}$HOST:$((API_PORT + i - 1))
done

for i in $NODES; do
	if [ "$i" = 1 ]; then role="--bootstrap"; else role="--join $endpoints"; fi
	# $role is split into words on purpose.
	# shellcheck disable=SC2086
	"$work/raftlock" serve --node-id "n$i" \
		--raft-addr "$HOST:$((RAFT_PORT + i - 1))" \
		--api-addr "$HOST:$((API_PORT + i - 1))" \
		--data-dir "$data/n$i" $role >"$data/n$i.log" 2>&1 &
	pids="$pids $!"
done

# pid_of N prints the process ID of node N.
pid_of() {
	n=$1
	# shellcheck disable=SC2086
	set -- $pids
	shift $((n - 1))
	echo "$1"
}

# Each node logs "raft node serving" once it is up (a joining node, once
# it is a member).
for i in $NODES; do
	waited=0
	until grep -q 'msg="raft node serving"' "$data/n$i.log"; do
		if ! kill -0 "$(pid_of "$i")" 2>/dev/null; then
			echo "run.sh: node n$i exited; its log:" >&2
			cat "$data/n$i.log" >&2
			exit 1
		fi
		if [ "$waited" -ge 90 ]; then
			echo "run.sh: node n$i is not serving after ${waited}s; see $data/n$i.log" >&2
			exit 1
		fi
		sleep 1
		waited=$((waited + 1))
	done
done

echo "raftlock cluster is up:"
for i in $NODES; do
	echo "  n$i  pid $(pid_of "$i")  raft $HOST:$((RAFT_PORT + i - 1))  api $HOST:$((API_PORT + i - 1))  log $data/n$i.log"
done
echo "connect with: raft://$endpoints"
echo "press Ctrl-C to stop"

# Watch the nodes. A node that dies is reported and the others keep
# running, so that killing one shows the cluster failing over; the script
# ends when none is left.
gone=""
while :; do
	alive=0
	for i in $NODES; do
		if kill -0 "$(pid_of "$i")" 2>/dev/null; then
			alive=$((alive + 1))
			continue
		fi
		case " $gone " in
		*" $i "*) ;;
		*)
			gone="$gone $i"
			echo "run.sh: node n$i exited; see $data/n$i.log" >&2
			;;
		esac
	done
	[ "$alive" -gt 0 ] || exit 1
	sleep 1
done
