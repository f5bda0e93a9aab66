#!/usr/bin/env bash
# Assembles the Pulumi toolchain this project runs with in ./bin (gitignored), without any binary
# download (none reaches these machines):
#   bin/pulumi                         the CLI, built from the Go module github.com/pulumi/pulumi/pkg/v3
#                                      through the Go module proxy (or the `pulumi` already on PATH);
#   bin/pulumi-language-nodejs         our Node.js language host (scripts/language-host/main.ts, compiled
#                                      to bin/language-host/main.js): the Go one is a module the proxy
#                                      does not serve (HTTP 403), see the comment in main.ts;
#   bin/pulumi-resource-pulumi-nodejs  the dynamic-provider plugin shim shipped in @pulumi/pulumi.
# Needs `npm ci` first. The CLI build is cached in ~/.cache/pulumi-xen/toolchain/v<version>, so only
# the first run on a machine is slow (measured: ~4.5 min and ~3 GB of Go caches); later runs take
# seconds. Non-interactive: safe with CI=true and no stdin.
#
# Environment:
#   PULUMI_VERSION=3.248.0          CLI version to build; keep it equal to @pulumi/pulumi in package.json
#   PULUMI_XEN_USE_SYSTEM_PULUMI    auto (default: use a `pulumi` found on PATH outside ./bin),
#                                   1 (require one), 0 (always use the self-built CLI)
#   PULUMI_XEN_CACHE                cache root (default ${XDG_CACHE_HOME:-~/.cache}/pulumi-xen)
set -euo pipefail

PULUMI_VERSION="${PULUMI_VERSION:-3.248.0}"
GO_MIN_VERSION="1.25.11" # the `go` directive of pulumi pkg/v3 at this version

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/bin"
CACHE="${PULUMI_XEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-xen}/toolchain/v$PULUMI_VERSION"
SDK_DIR="$ROOT/node_modules/@pulumi/pulumi"
HOST_SRC="$ROOT/scripts/language-host"

log() { printf '[toolchain] %s\n' "$*" >&2; }
die() {
  printf '[toolchain] error: %s\n' "$*" >&2
  exit 1
}

# Runs "$@" while printing a line every 15 s, so a long step is visibly alive in CI logs.
with_progress() {
  local label=$1
  shift
  local start rc=0
  start=$(date +%s)
  (while sleep 15; do log "$label: still running ($(($(date +%s) - start))s)"; done) &
  local ticker=$!
  "$@" || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  log "$label: done in $(($(date +%s) - start))s"
  return "$rc"
}

version_ge() { # a >= b for dotted versions
  [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]
}

cli_version() { "$1" version 2>/dev/null || true; }

# Places the CLI binary in bin/ (hard link when possible: the cache and the checkout share a disk).
place_cli() {
  rm -f "$BIN/pulumi"
  ln "$1" "$BIN/pulumi" 2>/dev/null || cp "$1" "$BIN/pulumi"
}

build_cli() {
  command -v go >/dev/null 2>&1 \
    || die "Go (>= $GO_MIN_VERSION) is required to build the Pulumi CLI: no binary download is possible here. Install Go and re-run."
  local gover
  gover="$(go env GOVERSION 2>/dev/null | sed 's/^go//')"
  if ! version_ge "$gover" "$GO_MIN_VERSION"; then
    version_ge "$gover" "1.21" || die "Go $gover is too old: need >= $GO_MIN_VERSION (or >= 1.21, which can fetch it)"
    log "Go $gover < $GO_MIN_VERSION: letting Go fetch the toolchain it needs from the module proxy"
    export GOTOOLCHAIN=auto
  fi

  local work="$CACHE/build"
  mkdir -p "$work"
  log "building pulumi v$PULUMI_VERSION from the Go module proxy (work dir $work)"
  log "a cold build downloads ~1.5 GB of modules and compiles for several minutes; later runs use the cache"
  cd "$work"
  # A throwaway wrapper module: `go install pkg@version` refuses pulumi's modules (they carry
  # replace directives), so pin pkg/v3 and sdk/v3 here and copy the third-party replaces.
  cat >go.mod <<GOMOD
module local/pulumi-build

go $GO_MIN_VERSION

require (
	github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e

replace golang.org/x/text => golang.org/x/text v0.39.0
GOMOD
  cat >tools.go <<'GOTOOLS'
//go:build tools

package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
GOTOOLS
  rm -f go.sum
  export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"
  with_progress "resolving pulumi pkg/sdk v$PULUMI_VERSION" \
    go get "github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION" "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION" \
    || die "could not resolve github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION (is the Go module proxy reachable? GOPROXY=$(go env GOPROXY))"
  # Go 1.22+ would choose the highest sdk/v3 any dependency asks for; keep it equal to the CLI version.
  grep -q "github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION" go.mod \
    || die "module resolution moved sdk/v3 away from v$PULUMI_VERSION; see $work/go.mod"
  with_progress "downloading modules" go mod tidy || die "go mod tidy failed (module download); see the output above"
  with_progress "compiling pulumi (the slow part)" \
    go build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    -o "$CACHE/pulumi.tmp" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
    || die "go build failed; see the output above"
  mv -f "$CACHE/pulumi.tmp" "$CACHE/pulumi"
  cd "$ROOT"
  log "disk use: binary $(du -sh "$CACHE/pulumi" | cut -f1), module cache $(du -sh "$(go env GOMODCACHE)" 2>/dev/null | cut -f1), build cache $(du -sh "$(go env GOCACHE)" 2>/dev/null | cut -f1)"
}

install_cli() {
  local mode="${PULUMI_XEN_USE_SYSTEM_PULUMI:-auto}" system=""
  if [ "$mode" != "0" ]; then
    # A `pulumi` on PATH that is not ours (./bin may already be on PATH).
    system="$(PATH="$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$BIN" | paste -sd: -)" command -v pulumi || true)"
  fi
  if [ -n "$system" ]; then
    local v
    v="$(cli_version "$system")"
    [ -n "$v" ] || die "$system does not run ('pulumi version' failed); set PULUMI_XEN_USE_SYSTEM_PULUMI=0 to build one"
    [ "$v" = "v$PULUMI_VERSION" ] || log "warning: $system is $v, @pulumi/pulumi here is $PULUMI_VERSION"
    ln -sfn "$system" "$BIN/pulumi"
    log "using the pulumi on PATH: $system ($v)"
    return
  fi
  [ "$mode" = "1" ] && die "PULUMI_XEN_USE_SYSTEM_PULUMI=1 but no pulumi on PATH"

  if [ -x "$BIN/pulumi" ] && [ ! -L "$BIN/pulumi" ] && [ "$(cli_version "$BIN/pulumi")" = "v$PULUMI_VERSION" ]; then
    log "pulumi v$PULUMI_VERSION already in $BIN"
    return
  fi
  mkdir -p "$CACHE"
  # One build at a time per machine (parallel CI jobs share the cache).
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE/.lock"
    flock 9
  fi
  if [ "$(cli_version "$CACHE/pulumi")" != "v$PULUMI_VERSION" ]; then
    build_cli
  else
    log "using the cached build $CACHE/pulumi"
  fi
  place_cli "$CACHE/pulumi"
  [ "$(cli_version "$BIN/pulumi")" = "v$PULUMI_VERSION" ] || die "$BIN/pulumi does not report v$PULUMI_VERSION"
}

install_language_host() {
  local out="$BIN/language-host/main.js" tsc="$ROOT/node_modules/.bin/tsc"
  if [ ! -f "$out" ] || [ "$HOST_SRC/main.ts" -nt "$out" ]; then
    [ -x "$tsc" ] || die "missing $tsc: run 'npm ci' first (dev dependencies are needed)"
    log "compiling the Node.js language host"
    "$tsc" --outDir "$BIN/language-host" --rootDir "$HOST_SRC" --module commonjs --target ES2022 \
      --moduleResolution node --esModuleInterop --skipLibCheck --strict --types node --sourceMap false \
      "$HOST_SRC/main.ts" || die "could not compile $HOST_SRC/main.ts"
  fi
  install -m 0755 "$HOST_SRC/pulumi-language-nodejs" "$BIN/pulumi-language-nodejs"
}

install_shim() {
  local src="$SDK_DIR/pulumi-resource-pulumi-nodejs"
  [ -f "$src" ] || die "missing $src: run 'npm ci' first (the shim ships inside @pulumi/pulumi)"
  install -m 0755 "$src" "$BIN/pulumi-resource-pulumi-nodejs"
}

# The language host must answer: start it, wait for the port it prints, stop it.
check_language_host() {
  local out pid port="" _
  out="$(mktemp)"
  "$BIN/pulumi-language-nodejs" 127.0.0.1:1 </dev/null >"$out" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    port="$(head -n1 "$out")"
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  case "$port" in
    '' | *[!0-9]*) die "the language host did not start: $(cat "$out")" ;;
  esac
  rm -f "$out"
}

command -v node >/dev/null 2>&1 || die "node is required (Node >= 20)"
[ -f "$SDK_DIR/package.json" ] || die "missing $SDK_DIR: run 'npm ci' first"
sdk_version="$(node -p "require('$SDK_DIR/package.json').version")"
[ "$sdk_version" = "$PULUMI_VERSION" ] \
  || log "warning: @pulumi/pulumi is $sdk_version but the CLI is v$PULUMI_VERSION (set PULUMI_VERSION to match)"
mkdir -p "$BIN"

start=$(date +%s)
install_cli
install_language_host
install_shim
check_language_host
log "ready in $BIN ($("$BIN/pulumi" version), language host and dynamic-provider shim) after $(($(date +%s) - start))s"
log "use it with: . scripts/pulumi-env.sh   (local file backend in .state/, nothing reaches the network)"
