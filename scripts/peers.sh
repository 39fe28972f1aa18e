#!/usr/bin/env bash
# Builds the real peers the test suite meets into a cache outside the repository, keyed by
# version (and patch), and reuses what is there. Nothing of their source is committed. Prints
# progress; fails with what to do when it cannot.
#
#   - the Parca server v0.28.0, from its published Go module;
#   - parca-agent v0.41.0, from its release source (the Go module proxy refuses that one module,
#     but serves every dependency): a source archive of the tag or an unpacked tree, taken from
#     PARCA_AGENT_SOURCE, else from shared/peers/ beside this checkout. The content is verified
#     (the sha256 of its go.sum and main.go), not the archive's bytes, so GitHub's source archive
#     of the tag works as well.
#
# The agent is built for tests only, with two patches for a sandbox that withholds two kernel
# privileges a real node grants (both fatal to the released agent):
#   1. RLIMIT_MEMLOCK cannot be raised (no CAP_SYS_RESOURCE): the profiler fork's
#      rlimit.MaximizeMemlock returns a no-op restore on EPERM (kernels >= 5.11 charge BPF memory
#      to the memory cgroup, so the limit does not matter there);
#   2. the scheduler tracepoint cannot be attached: main.go logs a warning instead of failing
#      (that monitor only prunes exited processes; sampling works without it).
#
#   PARCA_SIDECAR_PEERS   the cache (default: ~/.cache/parca-agent-sidecar/peers)
#   PARCA_AGENT_SOURCE    the agent's v0.41.0 source (.tar.gz or directory)
#   PEERS_ONLY            "parca" or "agent": build just one
set -euo pipefail

PARCA_VERSION=v0.28.0
PARCA_MODULE=github.com/parca-dev/parca
AGENT_VERSION=v0.41.0
AGENT_GO_SUM=6a5f864107df243ef5155c219abb512e4af94ac768b651d076132d009900450c
AGENT_MAIN_GO=50e5f446f7f37b754f8ec013cf8b70ffcf1acd899f37296bdb957a7f3b32496a
# Bump when the patches change: the cache key.
AGENT_PATCH=sandbox1

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${PARCA_SIDECAR_PEERS:-${XDG_CACHE_HOME:-$HOME/.cache}/parca-agent-sidecar/peers}
parca="$cache/parca-$PARCA_VERSION/parca"
agent="$cache/parca-agent-$AGENT_VERSION-$AGENT_PATCH/parca-agent"
work=
trap '[ -n "$work" ] && { chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"; }' EXIT

fail() {
  echo "peers: $*" >&2
  exit 1
}

go_env() {
  command -v go >/dev/null || fail "no Go on PATH (the peers need Go >= 1.25)"
  local minor
  minor=$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
  [ -n "$minor" ] && [ "$minor" -ge 25 ] || fail "the peers need Go >= 1.25; found $(go env GOVERSION)"
  # Their own module and build caches: the builds need a few GB, and nothing lands in the repository.
  export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS=-mod=mod GOTOOLCHAIN=local
  mkdir -p "$cache"
  [ -n "$work" ] || work=$(mktemp -d)
}

build_parca() {
  if [ -x "$parca" ]; then
    echo "peers: Parca server $PARCA_VERSION in $parca" >&2
    return
  fi
  go_env
  local start dir
  start=$(date +%s)
  echo "peers: downloading $PARCA_MODULE@$PARCA_VERSION from the Go module proxy…" >&2
  # `go install …@version` also asks for the module's version list, which the proxy refuses (403);
  # downloading the one version and building inside it does not.
  dir=$(go mod download -json "$PARCA_MODULE@$PARCA_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] && [ -d "$dir" ] || fail "the Go module proxy did not serve $PARCA_MODULE@$PARCA_VERSION"
  cp -R "$dir/." "$work/parca"
  chmod -R u+w "$work/parca"
  echo "peers: building the Parca server (about 500 modules: several minutes on 2 cores)…" >&2
  mkdir -p "$(dirname "$parca")"
  (cd "$work/parca" && CGO_ENABLED=0 go build -trimpath -o "$parca.tmp" ./cmd/parca) ||
    fail "cannot build the Parca server $PARCA_VERSION: go build failed (see above)"
  mv "$parca.tmp" "$parca"
  echo "peers: Parca server $PARCA_VERSION built in $(($(date +%s) - start)) s: $parca" >&2
}

# Where the agent's source is, or nothing.
agent_source() {
  if [ -n "${PARCA_AGENT_SOURCE:-}" ]; then
    [ -e "$PARCA_AGENT_SOURCE" ] || fail "PARCA_AGENT_SOURCE=$PARCA_AGENT_SOURCE does not exist"
    echo "$PARCA_AGENT_SOURCE"
  elif [ -f "$(dirname "$repo")/shared/peers/parca-agent-$AGENT_VERSION.tar.gz" ]; then
    echo "$(dirname "$repo")/shared/peers/parca-agent-$AGENT_VERSION.tar.gz"
  fi
}

# Replaces the first match of a Perl pattern in a file with literal text; fails when nothing matched.
patch_file() {
  local file=$1 pattern=$2 replacement=$3
  PATTERN=$pattern REPLACEMENT=$replacement perl -0pi -e \
    's/$ENV{PATTERN}/$ENV{REPLACEMENT}/ or die "no match\n"' "$file" ||
    fail "cannot patch $file: the source is not the one this script knows"
}

build_agent() {
  if [ -x "$agent" ]; then
    echo "peers: parca-agent $AGENT_VERSION (test build, $AGENT_PATCH) in $agent" >&2
    return
  fi
  local source
  source=$(agent_source)
  if [ -z "$source" ]; then
    local how="download the source archive of the tag
  (https://github.com/parca-dev/parca-agent/archive/refs/tags/$AGENT_VERSION.tar.gz) and set
  PARCA_AGENT_SOURCE to it, or put it at $(dirname "$repo")/shared/peers/parca-agent-$AGENT_VERSION.tar.gz"
    # CI always has the source: there the real-agent tests must run.
    [ "${CI:-}" != true ] || fail "no parca-agent $AGENT_VERSION source: $how"
    echo "peers: WARNING: no parca-agent $AGENT_VERSION source, so the real-agent tests will NOT run: $how" >&2
    return
  fi
  command -v gcc >/dev/null || fail "the agent is a cgo build: apt-get install -y gcc libc6-dev"
  go_env
  local start tree fork_dir fork_path fork_version
  start=$(date +%s)
  echo "peers: unpacking parca-agent $AGENT_VERSION from $source…" >&2
  mkdir -p "$work/agent"
  if [ -d "$source" ]; then
    cp -R "$source/." "$work/agent"
  else
    tar -xzf "$source" -C "$work/agent" || fail "cannot unpack $source"
  fi
  chmod -R u+w "$work/agent"
  tree=$(dirname "$(find "$work/agent" -maxdepth 2 -name go.mod | head -n 1)")
  [ -f "$tree/main.go" ] || fail "$source holds no parca-agent tree (no go.mod beside main.go)"
  echo "$AGENT_GO_SUM  $tree/go.sum
$AGENT_MAIN_GO  $tree/main.go" | sha256sum --check --quiet >/dev/null 2>&1 ||
    fail "$source is not parca-agent $AGENT_VERSION (its go.sum or main.go differ)"

  # Patch 1: the profiler fork that go.mod's replace names, copied and pointed at.
  fork_path=$(sed -n 's/^replace go.opentelemetry.io\/ebpf-profiler => \([^ ]*\) \(.*\)$/\1/p' "$tree/go.mod")
  fork_version=$(sed -n 's/^replace go.opentelemetry.io\/ebpf-profiler => \([^ ]*\) \(.*\)$/\2/p' "$tree/go.mod")
  [ -n "$fork_path" ] || fail "go.mod of $source replaces no ebpf-profiler"
  echo "peers: downloading the profiler fork $fork_path@$fork_version…" >&2
  fork_dir=$(go mod download -json "$fork_path@$fork_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$fork_dir" ] && [ -d "$fork_dir" ] || fail "the Go module proxy did not serve $fork_path@$fork_version"
  cp -R "$fork_dir/." "$work/fork"
  chmod -R u+w "$work/fork"
  patch_file "$work/fork/rlimit/rlimit.go" \
    'if err := unix\.Prlimit\(0, unix\.RLIMIT_MEMLOCK, &tmpLimit, &oldLimit\); err != nil \{\n' \
    'if err := unix.Prlimit(0, unix.RLIMIT_MEMLOCK, &tmpLimit, &oldLimit); err != nil {
		if err == unix.EPERM {
			return func() {}, nil // test build: the sandbox cannot raise RLIMIT_MEMLOCK
		}
'
  (cd "$tree" && go mod edit -replace "go.opentelemetry.io/ebpf-profiler=$work/fork")
  # Patch 2: the scheduler monitor is optional.
  patch_file "$tree/main.go" \
    'return flags\.Failure\("Failed to attach scheduler monitor: %v", err\)' \
    'log.Warnf("Failed to attach scheduler monitor (test build, ignored): %v", err)'

  echo "peers: building parca-agent $AGENT_VERSION (cgo, about 210 modules: a few minutes cold)…" >&2
  mkdir -p "$(dirname "$agent")"
  (cd "$tree" && CGO_ENABLED=1 go build -trimpath -tags osusergo,netgo \
    -ldflags "-X main.version=$AGENT_VERSION -extldflags=-static" -o "$agent.tmp" .) ||
    fail "cannot build parca-agent $AGENT_VERSION: go build failed (see above)"
  mv "$agent.tmp" "$agent"
  echo "peers: parca-agent $AGENT_VERSION built in $(($(date +%s) - start)) s: $agent" >&2
}

case "${PEERS_ONLY:-}" in
  parca) build_parca ;;
  agent) build_agent ;;
  "") build_parca && build_agent ;;
  *) fail "PEERS_ONLY is parca or agent, not ${PEERS_ONLY}" ;;
esac
