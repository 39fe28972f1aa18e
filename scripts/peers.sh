#!/usr/bin/env bash
# Builds the real peers the test suite meets into a cache outside the repository, keyed by
# version (and patch), and reuses what is there. Nothing of their source is committed. Prints
# progress; fails with what to do when it cannot.
#
#   - the Parca server v0.28.0, from its published Go module;
#   - parca-agent v0.41.0 (writes over the Write stream) and v0.49.0 (writes with WriteArrow),
#     from their release sources: the Go module proxy refuses the agent's own module. Each is
#     taken from the source directory (below) as parca-agent-<version>.tar.gz, a source archive
#     of the tag (or an unpacked tree of that name). The content is verified (the sha256 of its
#     go.sum and main.go), not the archive's bytes, so GitHub's source archive of the tag works
#     as well. v0.49.0 also needs, from the same directory:
#       goproxy/   a Go module proxy in file layout with the three modules of its go.mod that the
#                  proxy refuses (the profiler fork, sass-table, usdt; go.sum verifies them);
#       parca-proto-40b4cd184.tar.gz   Parca's protos at the commit whose Buf SDKs its go.mod
#                  requires (also refused): generated here with protoc-gen-go and
#                  protoc-gen-go-grpc (from the Go module proxy) and buf (npm, a devDependency).
#
# Each agent is built as its release is (cgo, static, `-X main.version=0.49.0`: a release prints
# "parca-agent, version 0.49.0 (commit: …)", no leading v), for tests only, with two patches for a
# sandbox that withholds two kernel privileges a real node grants (both fatal to the released
# agent):
#   1. RLIMIT_MEMLOCK cannot be raised (no CAP_SYS_RESOURCE): the profiler fork's
#      rlimit.MaximizeMemlock returns a no-op restore on EPERM (kernels >= 5.11 charge BPF memory
#      to the memory cgroup, so the limit does not matter there);
#   2. the scheduler tracepoint cannot be attached: main.go logs a warning instead of failing
#      (that monitor only prunes exited processes; sampling works without it).
#
#   PARCA_SIDECAR_PEERS          the cache (default: ~/.cache/parca-agent-sidecar/peers)
#   PARCA_SIDECAR_PEER_SOURCES   the source directory (default: shared/peers beside this checkout)
#   PEERS_ONLY                   "parca" or "agent": build just the server, or just the agents
#   PARCA_SIDECAR_ALL_TESTS=1    every test must run (.ci/run sets it): a missing source fails
set -euo pipefail

PARCA_VERSION=v0.28.0
PARCA_MODULE=github.com/parca-dev/parca
# Bump when the patches or the build flags change: part of the cache key.
AGENT_PATCH=sandbox2
# version, commit, sha256 of go.sum, sha256 of main.go, and whether the proxy refuses some of its
# dependencies ("local": goproxy/ and the generated SDKs below)
AGENTS=(
  "v0.41.0 d60b9179e84f4810a097297c86d529e7dedf3d68 6a5f864107df243ef5155c219abb512e4af94ac768b651d076132d009900450c 50e5f446f7f37b754f8ec013cf8b70ffcf1acd899f37296bdb957a7f3b32496a served"
  "v0.49.0 6ed23c1092ecd07cb6068c73b3e667e8fb04a748 73d5a7fe8eaa65a0364c4c4359ca116fa7caef86a1d1d9495383c195bd8db855 e8869dbb82dfbc759d424fe3b175265e646df0330c4ac9096ca40535c94fc697 local"
)
# The Buf SDKs of Parca's protos that v0.49.0 requires, and the plugins that generate them.
PARCA_PROTO=parca-proto-40b4cd184
SDK=buf.build/gen/go/parca-dev/parca
PROTOC_GEN_GO=google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.11
PROTOC_GEN_GO_GRPC=google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.1

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${PARCA_SIDECAR_PEERS:-${XDG_CACHE_HOME:-$HOME/.cache}/parca-agent-sidecar/peers}
sources=${PARCA_SIDECAR_PEER_SOURCES:-$(dirname "$repo")/shared/peers}
parca="$cache/parca-$PARCA_VERSION/parca"
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

# Replaces the first match of a Perl pattern in a file with literal text; fails when nothing matched.
patch_file() {
  local file=$1 pattern=$2 replacement=$3
  PATTERN=$pattern REPLACEMENT=$replacement perl -0pi -e \
    's/$ENV{PATTERN}/$ENV{REPLACEMENT}/ or die "no match\n"' "$file" ||
    fail "cannot patch $file: the source is not the one this script knows"
}

# Unpacks (or copies) a source archive or tree into a fresh folder and prints that folder.
unpack() {
  local from=$1 into=$2
  mkdir -p "$into"
  if [ -d "$from" ]; then
    cp -R "$from/." "$into"
  else
    tar -xzf "$from" -C "$into" || fail "cannot unpack $from"
  fi
  chmod -R u+w "$into"
}

# Installs a Go program at an exact version into the cache's bin/ (from the Go module proxy).
go_tool() {
  local package=$1 name
  name=$(basename "${package%@*}")
  if [ ! -x "$cache/bin/$name-${package#*@}" ]; then
    echo "peers: installing $package…" >&2
    GOBIN="$work/bin" go install "$package" || fail "cannot install $package from the Go module proxy"
    mkdir -p "$cache/bin"
    mv "$work/bin/$name" "$cache/bin/$name-${package#*@}"
  fi
  echo "$cache/bin/$name-${package#*@}"
}

# Generates the two Buf SDKs v0.49.0 requires (messages, gRPC stubs) as local modules under
# $work/sdk/{messages,grpc}, laid out and named as the Buf Schema Registry names them.
generate_sdks() {
  local protos=$sources/$PARCA_PROTO.tar.gz buf=$repo/node_modules/.bin/buf gen_go gen_grpc tree
  [ -e "$protos" ] || fail "no $protos (Parca's protos, which v0.49.0's generated dependencies are made from)"
  [ -x "$buf" ] || fail "no buf at $buf: run npm ci first"
  gen_go=$(go_tool "$PROTOC_GEN_GO")
  gen_grpc=$(go_tool "$PROTOC_GEN_GO_GRPC")
  unpack "$protos" "$work/protos"
  tree=$(dirname "$(find "$work/protos" -maxdepth 2 -name buf.yaml | head -n 1)")
  # A module of its own with no remote dependencies: the tree holds google/api itself.
  rm -f "$tree/buf.lock"
  printf 'version: v1\n' >"$tree/buf.yaml"
  local services="debuginfo profilestore telemetry" opts="paths=source_relative" s
  # The protos' own go_package options name another path: map each file to the SDK's.
  for s in $services; do
    opts="$opts\", \"Mparca/$s/v1alpha1/$s.proto=$SDK/protocolbuffers/go/parca/$s/v1alpha1;${s}v1alpha1"
  done
  cat >"$tree/buf.gen.yaml" <<EOF
version: v1
plugins:
  - {plugin: go, path: "$gen_go", out: "$work/sdk/messages", opt: ["$opts"]}
  - {plugin: go-grpc, path: "$gen_grpc", out: "$work/sdk/grpc", opt: ["$opts"]}
EOF
  (cd "$tree" && "$buf" generate --template buf.gen.yaml $(printf -- '--path parca/%s ' $services)) ||
    fail "cannot generate Parca's Go SDKs from $protos"
  # protoc-gen-go-grpc writes into the message package; the SDK has a sub-package of its own,
  # which names the messages through type aliases.
  for s in $services; do
    local dir=$work/sdk/grpc/parca/$s/v1alpha1 pkg=${s}v1alpha1grpc
    mkdir -p "$dir/$pkg"
    sed "s/^package ${s}v1alpha1\$/package $pkg/" "$dir/${s}_grpc.pb.go" >"$dir/$pkg/${s}_grpc.pb.go"
    rm "$dir/${s}_grpc.pb.go"
    {
      printf 'package %s\n\nimport msg "%s"\n\n' "$pkg" "$SDK/protocolbuffers/go/parca/$s/v1alpha1"
      sed -n 's/^type \([A-Z][A-Za-z0-9_]*\) \(struct\|int32\) .*/type \1 = msg.\1/p' \
        "$work/sdk/messages/parca/$s/v1alpha1/$s.pb.go"
    } >"$dir/$pkg/aliases.go"
  done
  printf 'module %s\n\ngo 1.21\n' "$SDK/protocolbuffers/go" >"$work/sdk/messages/go.mod"
  printf 'module %s\n\ngo 1.21\n' "$SDK/grpc/go" >"$work/sdk/grpc/go.mod"
}

build_agent() {
  local version=$1 commit=$2 go_sum=$3 main_go=$4 modules=$5
  local agent="$cache/parca-agent-$version-$AGENT_PATCH/parca-agent"
  if [ -x "$agent" ]; then
    echo "peers: parca-agent $version (test build, $AGENT_PATCH) in $agent" >&2
    return
  fi
  local source=$sources/parca-agent-$version.tar.gz
  [ -e "$source" ] || source=$sources/parca-agent-$version
  if [ ! -e "$source" ]; then
    local how="put the source archive of the tag
  (https://github.com/parca-dev/parca-agent/archive/refs/tags/$version.tar.gz) at
  $sources/parca-agent-$version.tar.gz, or set PARCA_SIDECAR_PEER_SOURCES to a directory holding it"
    [ "${PARCA_SIDECAR_ALL_TESTS:-}" != 1 ] || fail "no parca-agent $version source, and every test must run: $how"
    echo "peers: WARNING: no parca-agent $version source, so its real-agent tests will FAIL: $how" >&2
    return
  fi
  command -v gcc >/dev/null || fail "the agent is a cgo build: apt-get install -y gcc libc6-dev"
  go_env
  local start tree fork_dir fork_path fork_version
  start=$(date +%s)
  echo "peers: unpacking parca-agent $version from $source…" >&2
  unpack "$source" "$work/agent-$version"
  tree=$(dirname "$(find "$work/agent-$version" -maxdepth 2 -name go.mod | head -n 1)")
  [ -f "$tree/main.go" ] || fail "$source holds no parca-agent tree (no go.mod beside main.go)"
  echo "$go_sum  $tree/go.sum
$main_go  $tree/main.go" | sha256sum --check --quiet >/dev/null 2>&1 ||
    fail "$source is not parca-agent $version (its go.sum or main.go differ)"

  local proxy
  proxy=$(go env GOPROXY)
  if [ "$modules" = local ]; then
    # Modules the proxy refuses: a file-layout proxy first, then the usual one.
    [ -d "$sources/goproxy" ] || fail "no $sources/goproxy (the modules parca-agent $version needs that the Go module proxy refuses)"
    proxy="file://$(cd "$sources/goproxy" && pwd),$proxy"
    generate_sdks
    (cd "$tree" && go mod edit -replace "$SDK/protocolbuffers/go=$work/sdk/messages" \
      -replace "$SDK/grpc/go=$work/sdk/grpc")
  fi

  # Patch 1: the profiler fork that go.mod's replace names, copied and pointed at.
  fork_path=$(sed -n 's/^replace go.opentelemetry.io\/ebpf-profiler => \([^ ]*\) \(.*\)$/\1/p' "$tree/go.mod")
  fork_version=$(sed -n 's/^replace go.opentelemetry.io\/ebpf-profiler => \([^ ]*\) \(.*\)$/\2/p' "$tree/go.mod")
  [ -n "$fork_path" ] || fail "go.mod of $source replaces no ebpf-profiler"
  echo "peers: downloading the profiler fork $fork_path@$fork_version…" >&2
  # Inside the tree, so that its go.sum verifies what is downloaded.
  fork_dir=$(cd "$tree" && GOPROXY=$proxy go mod download -json "$fork_path@$fork_version" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$fork_dir" ] && [ -d "$fork_dir" ] || fail "the Go module proxy did not serve $fork_path@$fork_version"
  cp -R "$fork_dir/." "$work/fork-$version"
  chmod -R u+w "$work/fork-$version"
  patch_file "$work/fork-$version/rlimit/rlimit.go" \
    'if err := unix\.Prlimit\(0, unix\.RLIMIT_MEMLOCK, &tmpLimit, &oldLimit\); err != nil \{\n' \
    'if err := unix.Prlimit(0, unix.RLIMIT_MEMLOCK, &tmpLimit, &oldLimit); err != nil {
		if err == unix.EPERM {
			return func() {}, nil // test build: the sandbox cannot raise RLIMIT_MEMLOCK
		}
'
  (cd "$tree" && go mod edit -replace "go.opentelemetry.io/ebpf-profiler=$work/fork-$version")
  # Patch 2: the scheduler monitor is optional.
  patch_file "$tree/main.go" \
    'return flags\.Failure\("Failed to attach scheduler monitor: %v", err\)' \
    'log.Warnf("Failed to attach scheduler monitor (test build, ignored): %v", err)'

  echo "peers: building parca-agent $version (cgo, a few hundred modules: minutes cold)…" >&2
  mkdir -p "$(dirname "$agent")"
  (cd "$tree" && GOPROXY=$proxy CGO_ENABLED=1 go build -trimpath -tags osusergo,netgo \
    -ldflags "-X main.version=${version#v} -X main.commit=$commit -extldflags=-static" \
    -o "$agent.tmp" .) ||
    fail "cannot build parca-agent $version: go build failed (see above)"
  mv "$agent.tmp" "$agent"
  echo "peers: parca-agent $version built in $(($(date +%s) - start)) s: $agent" >&2
}

build_agents() {
  local agent
  for agent in "${AGENTS[@]}"; do
    # shellcheck disable=SC2086 # five words: version, commit, two hashes, modules
    build_agent $agent
  done
}

case "${PEERS_ONLY:-}" in
  parca) build_parca ;;
  agent) build_agents ;;
  "") build_parca && build_agents ;;
  *) fail "PEERS_ONLY is parca or agent, not ${PEERS_ONLY}" ;;
esac
