#!/usr/bin/env bash
# What the test suite needs from the machine beyond npm: Debian's nginx and Caddy (the real
# ingresses of test/ingress/), promtool (package prometheus: the alert rules and metric names),
# systemd-analyze (package systemd: the unit), gcc and libc6-dev (the real agent is a cgo
# build), tracefs mounted (the real agent's eBPF tracer attaches there), Go >= 1.24 (the
# TLS judge), and for `npm run package` and its tests (test/package/): dpkg-deb, lintian and a
# strip(1) for each architecture the binaries are built for. Installs what is missing with
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
# The real parca-agent is a cgo build (scripts/peers.sh).
command -v gcc >/dev/null || missing+=(gcc)
[ -e /usr/include/stdio.h ] || missing+=(libc6-dev)
# The single-file binaries and their .deb packages (scripts/package.ts).
command -v dpkg-deb >/dev/null || missing+=(dpkg)
command -v lintian >/dev/null || missing+=(lintian)
command -v readelf >/dev/null || missing+=(binutils)
command -v x86_64-linux-gnu-strip >/dev/null || missing+=(binutils-x86-64-linux-gnu)
command -v aarch64-linux-gnu-strip >/dev/null || missing+=(binutils-aarch64-linux-gnu)

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

# The real agent's eBPF tracer needs tracefs; a container may not have it mounted.
if [ ! -d /sys/kernel/tracing/events ] && [ ! -d /sys/kernel/debug/tracing/events ]; then
  if [ "$(id -u)" = 0 ] && mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; then
    echo "mounted tracefs at /sys/kernel/tracing for the real parca-agent" >&2
  else
    echo "the real parca-agent needs tracefs: mount -t tracefs nodev /sys/kernel/tracing (as root)" >&2
    exit 1
  fi
fi
