#!/usr/bin/env bash
# Installs etcd 3.4 (Debian's etcd-server package) for `npm run bench:kv`, only when `etcd` is
# missing from the PATH. Runs `apt-get update` once, then `apt-get install -y etcd-server`; needs
# root (or sudo). Prints what it does. Leaves the package's own service alone: the benchmark
# starts its own members on loopback addresses that do not collide with the default 127.0.0.1.
set -euo pipefail

say() { printf 'install-etcd: %s\n' "$*" >&2; }

if command -v etcd >/dev/null 2>&1; then
  say "etcd already installed: $(command -v etcd) ($(etcd --version 2>/dev/null | head -n 1))"
  exit 0
fi

sudo_cmd=()
if [[ "$(id -u)" != 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { say "etcd is missing and this is not root (no sudo): install etcd-server by hand"; exit 1; }
  sudo_cmd=(sudo)
fi

say "etcd not found; running: ${sudo_cmd[*]:-} apt-get update"
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
say "running: ${sudo_cmd[*]:-} apt-get install -y etcd-server"
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server

command -v etcd >/dev/null 2>&1 || { say "apt-get finished but etcd is still not on the PATH"; exit 1; }
say "installed: $(command -v etcd) ($(etcd --version 2>/dev/null | head -n 1))"
