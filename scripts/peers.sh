#!/usr/bin/env bash
# Builds the real peers the test suite meets — the Parca server, from its published Go module —
# into a cache outside the repository, keyed by version, and reuses what is there. Nothing of
# their source is committed. Prints progress; fails with what to do when it cannot.
#
#   PARCA_SIDECAR_PEERS   the cache (default: ~/.cache/parca-agent-sidecar/peers)
#
# The real parca-agent is not built: the Go module proxy refuses every version of
# github.com/parca-dev/parca-agent (403, "This module version is not available").
set -euo pipefail

PARCA_VERSION=v0.28.0
PARCA_MODULE=github.com/parca-dev/parca
cache=${PARCA_SIDECAR_PEERS:-${XDG_CACHE_HOME:-$HOME/.cache}/parca-agent-sidecar/peers}
parca="$cache/parca-$PARCA_VERSION/parca"

if [ -x "$parca" ]; then
  echo "peers: Parca server $PARCA_VERSION in $parca" >&2
  exit 0
fi

fail() {
  echo "peers: cannot build the Parca server $PARCA_VERSION: $*" >&2
  exit 1
}

command -v go >/dev/null || fail "no Go on PATH (it needs Go >= 1.25)"
minor=$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
[ -n "$minor" ] && [ "$minor" -ge 25 ] || fail "it needs Go >= 1.25; found $(go env GOVERSION)"

# Its own module and build caches: the build needs a few GB, and nothing lands in the repository.
export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS=-mod=mod GOTOOLCHAIN=local
mkdir -p "$cache"
start=$(date +%s)
echo "peers: downloading $PARCA_MODULE@$PARCA_VERSION from the Go module proxy…" >&2
# `go install …@version` also asks for the module's version list, which the proxy refuses (403);
# downloading the one version and building inside it does not.
dir=$(go mod download -json "$PARCA_MODULE@$PARCA_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$dir" ] && [ -d "$dir" ] || fail "the Go module proxy did not serve $PARCA_MODULE@$PARCA_VERSION"
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cp -R "$dir/." "$work/"
chmod -R u+w "$work"
echo "peers: building the Parca server (about 500 modules: several minutes on 2 cores)…" >&2
mkdir -p "$(dirname "$parca")"
(cd "$work" && CGO_ENABLED=0 go build -trimpath -o "$parca.tmp" ./cmd/parca) ||
  fail "go build failed (see above)"
mv "$parca.tmp" "$parca"
echo "peers: Parca server $PARCA_VERSION built in $(($(date +%s) - start)) s: $parca" >&2
