#!/usr/bin/env bash
# Assembles the Pulumi toolchain this project runs with in ./bin (gitignored), without any binary
# download (none reaches these machines):
#   bin/pulumi                         the CLI, built from the Go module github.com/pulumi/pulumi/pkg/v3
#                                      through the Go module proxy (or the `pulumi` already on PATH);
#   bin/pulumi-language-nodejs         our Node.js language host (scripts/language-host/main.ts, compiled
#                                      to bin/language-host/main.js): the Go one is a module the proxy
#                                      does not serve (HTTP 403), see the comment in main.ts;
#   bin/pulumi-language-yaml           the YAML language host (`runtime: yaml`), built from the Go module
#                                      github.com/pulumi/pulumi-yaml (or the one next to a system CLI);
#   bin/pulumi-resource-pulumi-nodejs  the dynamic-provider plugin shim shipped in @pulumi/pulumi.
# Needs `npm ci` first. The builds are cached in ~/.cache/pulumi-xen/toolchain/ (v<version> for the CLI,
# pulumi-yaml-v<version> for the YAML host), so only the first run on a machine is slow (measured: ~4.5 min
# and ~3 GB of Go caches for the CLI, ~1 min and ~0.7 GB more for the YAML host); later runs take seconds.
# Non-interactive: safe with CI=true and no stdin.
#
# Environment:
#   PULUMI_VERSION=3.248.0          CLI version to build; keep it equal to @pulumi/pulumi in package.json
#   PULUMI_YAML_VERSION=1.25.0      pulumi-yaml version to build the YAML language host from
#   PULUMI_XEN_USE_SYSTEM_PULUMI    auto (default: use a `pulumi` found on PATH outside ./bin),
#                                   1 (require one), 0 (always use the self-built CLI)
#   PULUMI_XEN_CACHE                cache root (default ${XDG_CACHE_HOME:-~/.cache}/pulumi-xen)
set -euo pipefail

PULUMI_VERSION="${PULUMI_VERSION:-3.248.0}"
GO_MIN_VERSION="1.25.11" # the `go` directive of pulumi pkg/v3 at this version
# The newest pulumi-yaml the module proxy serves (its go.mod: sdk/pkg v3.206.0). The host only talks
# gRPC to the engine, so it need not share the CLI's sdk version.
YAML_VERSION="${PULUMI_YAML_VERSION:-1.25.0}"
YAML_GO_MIN_VERSION="1.24.7" # the `go` directive of pulumi-yaml at this version

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/bin"
TOOLCHAIN_CACHE="${PULUMI_XEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-xen}/toolchain"
CACHE="$TOOLCHAIN_CACHE/v$PULUMI_VERSION"
YAML_CACHE="$TOOLCHAIN_CACHE/pulumi-yaml-v$YAML_VERSION"
SDK_DIR="$ROOT/node_modules/@pulumi/pulumi"
HOST_SRC="$ROOT/scripts/language-host"

# shellcheck disable=SC2034 # read by lib/common.sh
LOG_TAG=toolchain
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$ROOT/scripts/lib/common.sh"

cli_version() { "$1" version 2>/dev/null || true; }

# Places a cached binary in bin/ as $2 (hard link when possible: the cache and the checkout share a disk).
place() {
  rm -f "$BIN/$2"
  ln "$1" "$BIN/$2" 2>/dev/null || cp "$1" "$BIN/$2"
}

go_cache_use() {
  printf 'module cache %s, build cache %s' \
    "$(du -sh "$(go env GOMODCACHE)" 2>/dev/null | cut -f1)" "$(du -sh "$(go env GOCACHE)" 2>/dev/null | cut -f1)"
}

build_cli() {
  require_go "$GO_MIN_VERSION" "the Pulumi CLI"
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
  log "disk use: binary $(du -sh "$CACHE/pulumi" | cut -f1), $(go_cache_use)"
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
  place "$CACHE/pulumi" pulumi
  [ "$(cli_version "$BIN/pulumi")" = "v$PULUMI_VERSION" ] || die "$BIN/pulumi does not report v$PULUMI_VERSION"
}

# Built inside a writable copy of the downloaded module, so the module's own go.mod and go.sum decide every
# dependency, as with `go install ...@version`, which would refuse a release whose go.mod has replace lines.
build_yaml_host() {
  require_go "$YAML_GO_MIN_VERSION" "the Pulumi YAML language host"
  local mod="github.com/pulumi/pulumi-yaml@v$YAML_VERSION" work="$YAML_CACHE/build" src start
  start=$(date +%s)
  rm -rf "$work"
  mkdir -p "$work"
  log "building pulumi-language-yaml v$YAML_VERSION from the Go module proxy (work dir $work)"
  (cd "$work" && go mod download -json "$mod" >module.json) \
    || die "could not download $mod: $(node -p "require('$work/module.json').Error" 2>/dev/null) (GOPROXY=$(go env GOPROXY))"
  src="$(node -p "require('$work/module.json').Dir")"
  cp -R "$src" "$work/src"
  chmod -R u+w "$work/src"
  with_progress "compiling pulumi-language-yaml v$YAML_VERSION (downloads its modules first)" \
    env GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod" go build -C "$work/src" -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi-yaml/pkg/version.Version=v$YAML_VERSION" \
    -o "$YAML_CACHE/pulumi-language-yaml.tmp" ./cmd/pulumi-language-yaml \
    || die "go build of pulumi-language-yaml failed; see the output above (sources in $work/src)"
  mv -f "$YAML_CACHE/pulumi-language-yaml.tmp" "$YAML_CACHE/pulumi-language-yaml"
  rm -rf "$work"
  log "built pulumi-language-yaml v$YAML_VERSION in $(($(date +%s) - start))s (cold build)"
  log "disk use: binary $(du -sh "$YAML_CACHE/pulumi-language-yaml" | cut -f1), $(go_cache_use)"
}

install_yaml_host() {
  local name=pulumi-language-yaml cached="$YAML_CACHE/pulumi-language-yaml" bundled
  # A system CLI (bin/pulumi a symlink) ships its own YAML host: use it, as that CLI's engine would.
  if [ -L "$BIN/pulumi" ]; then
    bundled="$(dirname "$(readlink -f "$BIN/pulumi")")/$name"
    if [ -x "$bundled" ]; then
      ln -sfn "$bundled" "$BIN/$name"
      log "using the YAML language host next to that pulumi: $bundled"
      return
    fi
  fi
  # The cache directory is keyed by version and the binary lands there by rename, so its presence is
  # the check (the host has no version flag).
  if [ ! -L "$BIN/$name" ] && [ -x "$cached" ] \
    && { [ "$BIN/$name" -ef "$cached" ] || cmp -s "$cached" "$BIN/$name"; }; then
    log "pulumi-language-yaml v$YAML_VERSION already in $BIN"
    return
  fi
  mkdir -p "$YAML_CACHE"
  if command -v flock >/dev/null 2>&1; then
    exec 8>"$YAML_CACHE/.lock"
    flock 8
  fi
  if [ -x "$cached" ]; then
    log "using the cached build $cached"
  else
    build_yaml_host
  fi
  place "$cached" "$name"
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
  # The TypeScript code generator behind `pulumi import` (GenerateProgram); built now so the first import is quick.
  with_progress "gen-program" bash "$ROOT/scripts/gen-program/build.sh" >/dev/null \
    || log "warning: scripts/gen-program did not build; the language host will retry on the first pulumi import"
}

install_shim() {
  local src="$SDK_DIR/pulumi-resource-pulumi-nodejs"
  [ -f "$src" ] || die "missing $src: run 'npm ci' first (the shim ships inside @pulumi/pulumi)"
  install -m 0755 "$src" "$BIN/pulumi-resource-pulumi-nodejs"
}

# A language host must answer: start it, wait for the port it prints, stop it.
check_language_host() {
  local out pid port="" _
  out="$(mktemp)"
  "$1" 127.0.0.1:1 </dev/null >"$out" 2>&1 &
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
    '' | *[!0-9]*) die "the language host $1 did not start: $(cat "$out")" ;;
  esac
  rm -f "$out"
}

# The native provider plugin: the engine finds `pulumi-resource-xen` on PATH and runs it. It runs the compiled
# provider (dist/, `npm run build`), so one launcher serves every build.
install_plugin() {
  cat >"$BIN/pulumi-resource-xen" <<'LAUNCHER'
#!/bin/sh
# pulumi-resource-xen: the pulumi-xen native provider (written by scripts/install-toolchain.sh)
root=$(cd "$(dirname "$0")/.." && pwd)
main="$root/dist/provider/plugin/main.js"
[ -f "$main" ] || { echo "pulumi-resource-xen: $main is missing: run npm run build" >&2; exit 1; }
exec node "$main" "$@"
LAUNCHER
  chmod 0755 "$BIN/pulumi-resource-xen"
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
install_yaml_host
install_shim
install_plugin
check_language_host "$BIN/pulumi-language-nodejs"
check_language_host "$BIN/pulumi-language-yaml"
log "ready in $BIN ($("$BIN/pulumi" version), Node.js and YAML language hosts, dynamic-provider shim, pulumi-resource-xen) after $(($(date +%s) - start))s"
log "use it with: . scripts/pulumi-env.sh   (local file backend in .state/, nothing reaches the network)"
