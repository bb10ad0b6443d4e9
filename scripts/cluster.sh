#!/usr/bin/env bash
# A local weft cluster on one machine, laid out as if on four: servers s1, s2, s3 on 127.0.0.11-13
# and client agent c1 on 127.0.0.1, each with Consul's default ports on its own address (HTTP 8500,
# LAN 8301, server RPC 8300), so the CLI's default 127.0.0.1:8500 reaches c1.
#
#   scripts/cluster.sh start             start whatever is not running; wait for a leader
#   scripts/cluster.sh stop              SIGTERM every agent (leaders hand over first), then wait
#   scripts/cluster.sh status            leader, Raft peers, members
#   scripts/cluster.sh restart-rolling   restart each server in turn, the leader last
#   scripts/cluster.sh logs [NODE]       follow the logs (all nodes, or one)
#
# State lives in .cluster/ (git-ignored): data/<node>, logs/<node>.log, pids/<node>.pid, gossip.key.
# Configuration: every agent reads the JSON files in .cluster/config/common/, servers also those in
# .cluster/config/servers/ (e.g. {"connect": {"enabled": true}}), and each node its own
# .cluster/config/<node>/ (service definitions: c1's go in config/c1/). After a change: `weft reload`
# for services, restart-rolling for agent settings.
# Environment: WEFT_CLUSTER_DIR overrides .cluster; WEFT_CLUSTER_NET (default 127.0.0) moves the
# four addresses (tests use their own so they never collide with a cluster you started);
# WEFT_EXTRA_ARGS is appended to every agent.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${WEFT_CLUSTER_DIR:-$root/.cluster}"
weft=(node "$root/dist/cmd/weft.js")
servers=(s1 s2 s3)
net="${WEFT_CLUSTER_NET:-127.0.0}"
declare -A ip=([s1]=$net.11 [s2]=$net.12 [s3]=$net.13 [c1]=$net.1)

say() { printf '==> %s\n' "$*"; }
die() { printf 'cluster.sh: %s\n' "$*" >&2; exit 1; }

ensure_built() {
  if [[ ! -f "$root/dist/cmd/weft.js" ]]; then
    say "building (npm run build)"
    (cd "$root" && npm run build --silent) || die "the build failed; run 'npm ci' first"
  fi
}

pid_of() { local f="$dir/pids/$1.pid"; [[ -f "$f" ]] && cat "$f" || true; }
is_running() { local pid; pid="$(pid_of "$1")"; [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; }
http() { printf 'http://%s:8500' "${ip[$1]}"; }

gossip_key() {
  if [[ ! -f "$dir/gossip.key" ]]; then
    "${weft[@]}" keygen > "$dir/gossip.key.tmp" 2>/dev/null || node -e 'process.stdout.write(require("crypto").randomBytes(32).toString("base64") + "\n")' > "$dir/gossip.key.tmp"
    mv "$dir/gossip.key.tmp" "$dir/gossip.key"
    chmod 600 "$dir/gossip.key"
  fi
  cat "$dir/gossip.key"
}

start_node() {
  local node="$1" key="$2"
  if is_running "$node"; then say "$node already running (pid $(pid_of "$node"))"; return; fi
  local args=(agent -node="$node" -bind="${ip[$node]}" -client="${ip[$node]}" -data-dir="$dir/data/$node"
    -retry-join="${ip[s1]}" -retry-join="${ip[s2]}" -retry-join="${ip[s3]}" -encrypt="$key" -log-json
    -config-dir="$dir/config/common" -config-dir="$dir/config/$node")
  if [[ "$node" != c1 ]]; then args+=(-server -bootstrap-expect=3 -config-dir="$dir/config/servers"); fi
  # shellcheck disable=SC2206
  args+=(${WEFT_EXTRA_ARGS:-})
  mkdir -p "$dir/data/$node" "$dir/logs" "$dir/pids" "$dir/config/common" "$dir/config/servers" "$dir/config/$node"
  nohup "${weft[@]}" "${args[@]}" >>"$dir/logs/$node.log" 2>&1 &
  echo $! > "$dir/pids/$node.pid"
  say "started $node (pid $!) on ${ip[$node]}, log $dir/logs/$node.log"
}

# Polls with a deadline; never sleeps as synchronisation beyond the poll interval.
wait_for() {
  local what="$1" seconds="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then die "timed out after ${seconds}s waiting for $what; see $dir/logs/"; fi
    sleep 0.2
  done
}

leader_of() { node -e '
  fetch(process.argv[1] + "/v1/status/leader", { signal: AbortSignal.timeout(2000) })
    .then(r => r.json()).then(l => { if (!l) process.exit(1); console.log(l) }).catch(() => process.exit(1))' "$1"; }

is_voter() { # is_voter NODE: the leader's Raft configuration lists NODE as a voter
  node -e '
    fetch(process.argv[1] + "/v1/operator/raft/configuration", { signal: AbortSignal.timeout(2000) })
      .then(r => r.json()).then(c => { const s = c.Servers.find(s => s.Node === process.argv[2]); if (!s || !s.Voter) process.exit(1) })
      .catch(() => process.exit(1))' "$(http "$1")" "$1"
}

cmd_start() {
  ensure_built
  mkdir -p "$dir"
  local key; key="$(gossip_key)"
  for node in "${servers[@]}" c1; do start_node "$node" "$key"; done
  say "waiting for a leader"
  wait_for "a cluster leader" 60 leader_of "$(http s1)"
  wait_for "the client agent c1" 30 leader_of "$(http c1)"
  say "cluster is up; leader at $(leader_of "$(http s1)")"
  for node in "${servers[@]}" c1; do printf '    %-3s HTTP %s\n' "$node" "$(http "$node")"; done
  cat <<EOF
==> Next: the CLI talks to c1 at ${ip[c1]}:8500$([[ "$net" == 127.0.0 ]] && echo ' (its default)'):
    npx weft members
    npx weft kv put hello world && npx weft kv get hello
    npx weft operator raft list-peers
    scripts/cluster.sh status | restart-rolling | logs | stop
EOF
}

stop_node() {
  local node="$1" pid
  pid="$(pid_of "$node")"
  if ! is_running "$node"; then rm -f "$dir/pids/$node.pid"; return; fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 20))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then say "$node did not stop within 20s; sending SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
    sleep 0.1
  done
  rm -f "$dir/pids/$node.pid"
}

cmd_stop() {
  for node in c1 "${servers[@]}"; do
    if is_running "$node"; then say "stopping $node"; stop_node "$node"; fi
  done
  say "all agents stopped (data kept in $dir/data; remove $dir for a fresh cluster)"
}

cmd_status() {
  ensure_built
  for node in "${servers[@]}" c1; do
    if is_running "$node"; then printf '%-3s running (pid %s)\n' "$node" "$(pid_of "$node")"; else printf '%-3s stopped\n' "$node"; fi
  done
  local any=""
  for node in c1 "${servers[@]}"; do if is_running "$node"; then any="$node"; break; fi; done
  [[ -n "$any" ]] || { echo "no agent is running; start with: scripts/cluster.sh start"; return 0; }
  echo; echo "leader: $(leader_of "$(http "$any")" || echo none)"
  echo; "${weft[@]}" operator raft list-peers -http-addr="$(http "$any")" || true
  echo; "${weft[@]}" members -http-addr="$(http "$any")" || true
}

cmd_restart_rolling() {
  ensure_built
  local key; key="$(gossip_key)"
  local leader_address leader=""
  leader_address="$(leader_of "$(http s1)" || leader_of "$(http s2)" || leader_of "$(http s3)" || true)"
  for node in "${servers[@]}"; do [[ "$leader_address" == "${ip[$node]}:8300" ]] && leader="$node"; done
  local order=()
  for node in "${servers[@]}"; do [[ "$node" != "$leader" ]] && order+=("$node"); done
  [[ -n "$leader" ]] && order+=("$leader")
  local i=0
  for node in "${order[@]}"; do
    i=$((i + 1))
    say "[$i/${#order[@]}] restarting $node$([[ "$node" == "$leader" ]] && echo ' (leader: hands leadership over on SIGTERM)')"
    stop_node "$node"
    start_node "$node" "$key"
    wait_for "$node to answer" 60 leader_of "$(http "$node")"
    wait_for "$node to be a voter again" 60 is_voter "$node"
    say "[$i/${#order[@]}] $node is back as a voter"
  done
  say "rolling restart complete; leader now at $(leader_of "$(http s1)" || echo unknown)"
}

cmd_logs() {
  mkdir -p "$dir/logs"
  if [[ $# -gt 0 ]]; then tail -n 50 -F "$dir/logs/$1.log"; else tail -n 20 -F "$dir"/logs/*.log; fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  restart-rolling) cmd_restart_rolling ;;
  logs) shift; cmd_logs "$@" ;;
  *) echo "usage: scripts/cluster.sh start|stop|status|restart-rolling|logs [NODE]" >&2; exit 2 ;;
esac
