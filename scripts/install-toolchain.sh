#!/usr/bin/env bash
# Builds the Pulumi CLI and the Node.js language host from their Go modules (no binary download
# reaches these machines) and assembles them, with the dynamic-provider plugin shim, in ./bin.
# A user who already has `pulumi` on PATH (and PULUMI_XEN_USE_SYSTEM_PULUMI=1) skips the build.
set -euo pipefail

PULUMI_VERSION="${PULUMI_VERSION:-3.248.0}"
# The pkg/v3.X.Y tag's commit; the language host has no tags, so it is taken at this commit.
PULUMI_COMMIT="${PULUMI_COMMIT:-dc7edd58bc13}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/bin"
CACHE="${PULUMI_XEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-xen}/toolchain/v$PULUMI_VERSION"
SHIM_SRC="$ROOT/node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs"

log() { printf '[toolchain] %s\n' "$*" >&2; }
die() { printf '[toolchain] error: %s\n' "$*" >&2; exit 1; }

install_shim() {
  [ -f "$SHIM_SRC" ] || die "missing $SHIM_SRC: run 'npm ci' first (the shim ships inside @pulumi/pulumi)"
  install -m 0755 "$SHIM_SRC" "$BIN/pulumi-resource-pulumi-nodejs"
}

mkdir -p "$BIN"

if [ "${PULUMI_XEN_USE_SYSTEM_PULUMI:-0}" = "1" ] && command -v pulumi >/dev/null 2>&1; then
  log "using pulumi on PATH: $(command -v pulumi) ($(pulumi version))"
  exit 0
fi

if [ -x "$BIN/pulumi" ] && [ -x "$BIN/pulumi-language-nodejs" ] \
  && [ "$("$BIN/pulumi" version 2>/dev/null)" = "v$PULUMI_VERSION" ]; then
  install_shim
  log "pulumi v$PULUMI_VERSION ready in $BIN"
  exit 0
fi

if [ -x "$CACHE/pulumi" ] && [ -x "$CACHE/pulumi-language-nodejs" ]; then
  log "copying cached build from $CACHE"
  cp "$CACHE/pulumi" "$CACHE/pulumi-language-nodejs" "$BIN/"
  install_shim
  log "pulumi v$PULUMI_VERSION ready in $BIN"
  exit 0
fi

command -v go >/dev/null 2>&1 || die "Go is required to build the Pulumi CLI (no binary download is possible here)"

WORK="$CACHE/build"
mkdir -p "$WORK"
log "building pulumi v$PULUMI_VERSION and pulumi-language-nodejs from the Go module proxy in $WORK"
log "a cold build downloads ~1 GB of modules and takes several minutes; later runs use the cache"
cd "$WORK"
cat > go.mod <<GOMOD
module local/pulumi-build

go 1.25.11

require (
	github.com/pulumi/pulumi/pkg/v3 v$PULUMI_VERSION
	github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e

replace golang.org/x/text => golang.org/x/text v0.39.0
GOMOD
cat > tools.go <<'GOTOOLS'
//go:build tools

package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
GOTOOLS

export GOFLAGS="-mod=mod"
go get "github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION" "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION" \
  || die "could not resolve pulumi pkg/sdk v$PULUMI_VERSION"
log "downloading modules"
go mod tidy || die "go mod tidy failed"
log "compiling (this is the slow part)"
start=$(date +%s)
go build -trimpath -tags osusergo,grpcnotrace \
  -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
  -o "$CACHE/" \
  github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
  || die "go build failed; see the output above"
log "compiled in $(( $(date +%s) - start ))s"
cp "$CACHE/pulumi" "$CACHE/pulumi-language-nodejs" "$BIN/"
install_shim
log "pulumi $("$BIN/pulumi" version) ready in $BIN"
