#!/usr/bin/env bash
# What the test suite needs from the machine beyond npm: Debian's nginx and Caddy (the real
# ingresses of test/ingress/), promtool (package prometheus: the alert rules and metric names),
# systemd-analyze (package systemd: the unit) and Go >= 1.24 (the TLS judge). Installs what is missing with
# apt-get, keeping the packages' services from starting; where it cannot, says exactly what to
# install and fails: the tests never skip.
set -euo pipefail

missing=()
# Packages whose service must not run once installed (never systemd itself).
services=()
command -v nginx >/dev/null || { missing+=(nginx); services+=(nginx); }
command -v caddy >/dev/null || { missing+=(caddy); services+=(caddy); }
command -v promtool >/dev/null || { missing+=(prometheus); services+=(prometheus); }
command -v systemd-analyze >/dev/null || missing+=(systemd)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "tests need: apt-get install -y ${missing[*]} (as root; keep their services stopped)" >&2
    exit 1
  fi
  echo "installing ${missing[*]} for the tests…" >&2
  # Keep the packages' services from starting: invoke-rc.d asks policy-rc.d first.
  policy=/usr/sbin/policy-rc.d
  created=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created=1
  fi
  trap '[ -n "$created" ] && rm -f "$policy"' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  # A service started anyway (a machine whose init ignores policy-rc.d) is stopped again.
  for service in "${services[@]}"; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
      systemctl stop "$service" || true
    fi
    pkill -x "$service" 2>/dev/null || true
  done
fi

if ! command -v go >/dev/null; then
  echo "tests need Go >= 1.24 on PATH for the TLS judge (Debian's golang-go 1.19 is too old)" >&2
  exit 1
fi
version=$(go env GOVERSION)
minor=$(echo "$version" | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
if [ -z "$minor" ] || [ "$minor" -lt 24 ]; then
  echo "tests need Go >= 1.24 for the TLS judge; found $version" >&2
  exit 1
fi
