#!/usr/bin/env bash
# Generates the Python, Go and .NET SDKs of the native provider from its package schema
# (provider/plugin/schema.json) into sdk-gen/{python,go,dotnet}, which are committed so users can read them.
#
#   bash scripts/gen-sdks.sh            regenerate sdk-gen/
#   bash scripts/gen-sdks.sh --check    fail if sdk-gen/ differs from what the schema gives, then compile the Go
#                                       SDK against github.com/pulumi/pulumi/sdk/v3 (the test command runs this)
#
# `pulumi package gen-sdk` would need the Go, Python and .NET language hosts, which the Go module proxy does not
# serve, so scripts/gen-sdks/ calls the code generators those hosts use directly: Go and Python from
# github.com/pulumi/pulumi/pkg/v3 at the CLI's version, .NET from pkg/v3 v3.228.0, the last release that has it
# (scripts/gen-sdks/dotnet, a module of its own). Both tools are built once per source change and cached in
# ~/.cache/pulumi-xen/gen-sdks/ (~80 MB). Measured on 2 CPUs with a warm Go module cache: ~1 min right after
# install-toolchain.sh has built the CLI (they share compiled packages), ~2.5 min with an empty Go build cache,
# ~3 s warm.
# Non-interactive: safe with CI=true and no stdin. Needs Go and node.
#
# Environment:
#   PULUMI_XEN_CACHE   cache root (default ${XDG_CACHE_HOME:-~/.cache}/pulumi-xen)
set -euo pipefail

SDK_VERSION="3.248.0" # github.com/pulumi/pulumi/sdk/v3 the Go SDK is compiled against; keep it equal to the CLI
GO_MIN_VERSION="1.25.11" # the highest `go` directive of the tool modules (pkg/v3 v3.248.0's)
LANGS=(python go dotnet)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SRC="$ROOT/scripts/gen-sdks"
SCHEMA="provider/plugin/schema.json"
OUT="sdk-gen"
CACHE="${PULUMI_XEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-xen}/gen-sdks"

# shellcheck disable=SC2034 # read by lib/common.sh
LOG_TAG=gen-sdks
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$ROOT/scripts/lib/common.sh"

# generate DIR: writes DIR/{python,go,dotnet}.
generate() {
  "$GEN" -schema "$SCHEMA" -out "$1" -lang go,python
  "$GEN_DOTNET" -schema "$SCHEMA" -out "$1"
}

# check_go_sdk DIR: compiles the Go SDK in DIR in a throwaway module that replaces it and imports every package.
check_go_sdk() {
  local sdk=$1 work base mod rel imports="" start
  start=$(date +%s)
  work="$(mktemp -d)"
  # A copy, so that nothing (a go.mod written below, Go's own files) ever lands in the checkout.
  cp -R "$sdk" "$work/sdk"
  base="$(node -p "require(require('path').resolve(process.argv[1])).language.go.importBasePath" "$SCHEMA")"
  if [ ! -f "$work/sdk/go.mod" ]; then
    # The generator writes the SDK's go.mod only when the schema sets meta.supportPack; until then the module is
    # the import base path's parent, as the generator would name it.
    printf 'module %s\n\ngo 1.25\n\nrequire github.com/pulumi/pulumi/sdk/v3 v%s\n' "$(dirname "$base")" "$SDK_VERSION" \
      >"$work/sdk/go.mod"
  fi
  mod="$(sed -n 's/^module[[:space:]]*//p' "$work/sdk/go.mod")"
  # Every package of the SDK but internal ones (which only the SDK itself may import).
  while IFS= read -r rel; do
    rel="${rel#./}"
    [ "$mod/$rel" = "$base" ] && continue
    imports+=$'\t_ "'"$mod/$rel"$'"\n'
  done < <(cd "$work/sdk" && find . -name '*.go' ! -path '*/internal/*' -exec dirname {} \; | sort -u)
  mkdir "$work/check"
  # The generator's module graph (its committed go.mod and go.sum: sdk/v3 and every shared dependency at the
  # CLI's versions), so the check compiles little that the generator's build has not already compiled.
  sed 's#^module .*#module local/sdk-check#' "$SRC/go.mod" >"$work/check/go.mod"
  cp "$SRC/go.sum" "$work/check/go.sum"
  printf '\nrequire %s v0.0.0\n\nreplace %s => ../sdk\n' "$mod" "$mod" >>"$work/check/go.mod"
  cat >"$work/check/main.go" <<GOMAIN
// A program as a user would write it against the generated Go SDK.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	sdk "$base"
$imports)

func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		_, err := sdk.NewProvider(ctx, "pool", &sdk.ProviderArgs{})
		return err
	})
}
GOMAIN
  local rc=0
  (
    cd "$work/check"
    # -mod=mod: the SDK's own go.mod may ask for modules the generator does not use (their sums are added).
    export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"
    with_progress "compiling the Go SDK against sdk/v3 v$SDK_VERSION" go build "${GO_TOOL_BUILD_FLAGS[@]}" -o /dev/null . >&2 \
      || die "the generated Go SDK does not compile (module $mod, check module in $work/check)"
    # Go 1.22+ would choose the highest sdk/v3 any dependency asks for; the SDK must build against the CLI's.
    [ "$(go list -m -f '{{.Version}}' github.com/pulumi/pulumi/sdk/v3)" = "v$SDK_VERSION" ] \
      || die "module resolution moved sdk/v3 away from v$SDK_VERSION; see $work/check/go.mod"
    go vet "${GO_TOOL_BUILD_FLAGS[@]}" "$mod/..." >&2 \
      || die "go vet reports problems in the generated Go SDK (check module in $work/check)"
  ) || rc=$?
  [ "$rc" -eq 0 ] || return "$rc"
  rm -rf "$work"
  log "the Go SDK ($mod) compiles against github.com/pulumi/pulumi/sdk/v3 v$SDK_VERSION ($(($(date +%s) - start))s)"
}

check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  *) die "usage: bash scripts/gen-sdks.sh [--check]" ;;
esac

command -v node >/dev/null 2>&1 || die "node is required"
[ -f "$SCHEMA" ] || die "missing $SCHEMA: run npm run gen:schema"
require_go "$GO_MIN_VERSION" "the SDK generators"
start=$(date +%s)
GEN="$(build_go_tool "$CACHE" gen-sdks "$SRC")"
GEN_DOTNET="$(build_go_tool "$CACHE" gen-sdks-dotnet "$SRC/dotnet")"

if [ "$check" -eq 0 ]; then
  generate "$OUT"
  log "wrote sdk-gen/{$(
    IFS=,
    echo "${LANGS[*]}"
  )} from $SCHEMA in $(($(date +%s) - start))s ($(du -sh "$OUT" | cut -f1))"
  exit 0
fi

fresh="$(mktemp -d)"
trap 'rm -rf "$fresh"' EXIT
generate "$fresh" 2>&1 | sed 's/^/  /' >&2
stale=0
for lang in "${LANGS[@]}"; do
  if ! diff -r "$OUT/$lang" "$fresh/$lang" >"$fresh/$lang.diff" 2>&1; then
    stale=1
    log "sdk-gen/$lang is out of date: run bash scripts/gen-sdks.sh"
    head -n 20 "$fresh/$lang.diff" | sed 's/^/  /' >&2
  fi
done
check_go_sdk "$OUT/go"
[ "$stale" -eq 0 ] || exit 1
log "sdk-gen/ is up to date with $SCHEMA and the Go SDK compiles ($(($(date +%s) - start))s)"
