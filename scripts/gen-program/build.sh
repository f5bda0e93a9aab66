#!/usr/bin/env bash
# Builds scripts/gen-program (PCL -> TypeScript, for the Node.js language host's GenerateProgram) unless a
# build of these exact sources is cached, and prints the binary's path on stdout. The binary is cached in
# ~/.cache/pulumi-xen/gen-program/, keyed by the sources and the Go version, like scripts/gen-sdks.sh does.
# Measured on 2 CPUs with a warm Go module cache: ~3 s after install-toolchain.sh has built the CLI (they share
# compiled packages through Go's build cache), ~2 min with an empty Go build cache, ~30 ms once cached.
# The language host runs it on every GenerateProgram; running it ahead of time (install-toolchain.sh) moves
# the one slow build out of the first `pulumi import`.
#
# Environment:
#   PULUMI_XEN_CACHE   cache root (default ${XDG_CACHE_HOME:-~/.cache}/pulumi-xen)
set -euo pipefail

GO_MIN_VERSION="1.25.11" # the `go` directive of pulumi pkg/v3 v3.248.0
# The CLI's compile flags (scripts/install-toolchain.sh): what it compiled is then reused from Go's build cache.
BUILD_TAGS=osusergo,grpcnotrace
BUILD_FLAGS=(-trimpath -tags "$BUILD_TAGS")

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${PULUMI_XEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-xen}/gen-program"

log() { printf '[gen-program] %s\n' "$*" >&2; }
die() {
  printf '[gen-program] error: %s\n' "$*" >&2
  exit 1
}

version_ge() { # a >= b for dotted versions
  [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]
}

command -v go >/dev/null 2>&1 || die "Go (>= $GO_MIN_VERSION) is required to build $SRC"
gover="$(go env GOVERSION | sed 's/^go//')"
if ! version_ge "$gover" "$GO_MIN_VERSION"; then
  version_ge "$gover" "1.21" || die "Go $gover is too old: need >= $GO_MIN_VERSION (or >= 1.21, which can fetch it)"
  export GOTOOLCHAIN=auto
fi

key="$( (
  go env GOVERSION
  cd "$SRC" && find . -maxdepth 1 -type f -print0 | sort -z | xargs -0 sha256sum
) | sha256sum | cut -c1-16)"
bin="$CACHE/gen-program-$key"
if [ ! -x "$bin" ]; then
  mkdir -p "$CACHE"
  # One build at a time per machine (parallel CI jobs and language hosts share the cache).
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE/.lock"
    flock 9
  fi
  if [ ! -x "$bin" ]; then
    start=$(date +%s)
    log "compiling $SRC (pulumi codegen from the Go module proxy; slow only the first time)"
    # -mod=readonly: the committed go.sum decides every dependency.
    env GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly" go build -C "$SRC" "${BUILD_FLAGS[@]}" -o "$bin.tmp" . </dev/null >&2 \
      || die "go build of $SRC failed; see the output above"
    mv -f "$bin.tmp" "$bin"
    log "built $bin in $(($(date +%s) - start))s"
  fi
fi
printf '%s\n' "$bin"
