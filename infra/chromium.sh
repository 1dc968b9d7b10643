#!/usr/bin/env bash
# Headless Chromium for the dashboard's browser test (cmd/turnin, chromedp),
# from the distribution's package: no browser download at test time.
#
#   infra/chromium.sh ensure   install it with apt when missing (as root); print its path
#
# Without root or apt it says how to install it and exits 0, and the browser
# test skips — unless CI=true, where a missing browser fails here and in the test.
set -euo pipefail

log() { printf 'chromium: %s\n' "$*" >&2; }

find_bin() {
  local n
  for n in chromium chromium-browser google-chrome; do
    command -v "$n" >/dev/null 2>&1 && { command -v "$n"; return 0; }
  done
  return 1
}

ensure() {
  if find_bin; then return 0; fi
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "not found; install it (e.g. 'sudo apt-get install chromium') to run the dashboard's browser test"
    if [ "${CI:-}" = true ]; then exit 1; fi
    return 0
  fi
  log "installing Chromium with apt-get (first run only)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq chromium >&2
  find_bin || { log "apt-get installed chromium but no binary is on PATH"; exit 1; }
}

case "${1:-}" in
  ensure) ensure ;;
  *) echo "usage: $0 ensure" >&2; exit 2 ;;
esac
