#!/usr/bin/env bash
# Makes sure the Debian tools the tests drive are on the PATH: `openssl` (the CA tests check
# certificates with the real `openssl verify`). Installs what is missing with apt-get (root or
# sudo); prints what it does; does nothing when everything is there. `npm test` runs it first.
# socat is optional (the proxy tests use a Node echo server without it), so it is not installed.
set -euo pipefail

say() { printf 'install-test-tools: %s\n' "$*" >&2; }

missing=()
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo_cmd=()
if [[ "$(id -u)" != 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { say "missing ${missing[*]} and this is not root (no sudo): install them by hand (apt-get install ${missing[*]})"; exit 1; }
  sudo_cmd=(sudo)
fi
say "missing ${missing[*]}; running: ${sudo_cmd[*]:-} apt-get update && apt-get install -y ${missing[*]}"
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
for tool in "${missing[@]}"; do command -v "$tool" >/dev/null 2>&1 || { say "apt-get finished but $tool is still not on the PATH"; exit 1; }; done
say "installed ${missing[*]}"
