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

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${PULUMI_XEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-xen}/gen-program"
# shellcheck disable=SC2034 # read by lib/common.sh
LOG_TAG=gen-program
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "$SRC/../lib/common.sh"

require_go "$GO_MIN_VERSION" "$SRC"
build_go_tool "$CACHE" gen-program "$SRC"
