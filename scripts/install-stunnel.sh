#!/usr/bin/env bash
# Installs stunnel (Debian's stunnel4 package) for `npm run bench:proxy`, only when neither
# `stunnel4` nor `stunnel` is on the PATH. Runs `apt-get update` once, then
# `apt-get install -y stunnel4`; needs root (or sudo). Prints what it does. The package's own
# service stays disabled (Debian ships it off): the benchmark starts its own stunnel processes on
# loopback ports with its own configuration files.
set -euo pipefail

say() { printf 'install-stunnel: %s\n' "$*" >&2; }

found_stunnel() { command -v stunnel4 2>/dev/null || command -v stunnel 2>/dev/null || true; }

existing="$(found_stunnel)"
if [[ -n "$existing" ]]; then
  say "stunnel already installed: $existing"
  exit 0
fi

sudo_cmd=()
if [[ "$(id -u)" != 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { say "stunnel is missing and this is not root (no sudo): install stunnel4 by hand"; exit 1; }
  sudo_cmd=(sudo)
fi

say "stunnel not found; running: ${sudo_cmd[*]:-} apt-get update"
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
say "running: ${sudo_cmd[*]:-} apt-get install -y stunnel4"
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y stunnel4

installed="$(found_stunnel)"
[[ -n "$installed" ]] || { say "apt-get finished but stunnel is still not on the PATH"; exit 1; }
say "installed: $installed"
