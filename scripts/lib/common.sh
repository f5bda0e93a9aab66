# shellcheck shell=bash
# Shell helpers of the build scripts (install-toolchain.sh, gen-sdks.sh, gen-program/build.sh). Source it after
# setting LOG_TAG (the prefix of every line, e.g. "toolchain"). Everything logs to stderr: stdout stays free for
# what a script prints for its caller.

log() { printf '[%s] %s\n' "$LOG_TAG" "$*" >&2; }
die() {
  printf '[%s] error: %s\n' "$LOG_TAG" "$*" >&2
  exit 1
}

# Runs "$@" while printing a line every 15 s, so a long step is visibly alive in CI logs.
with_progress() {
  local label=$1
  shift
  local start rc=0
  start=$(date +%s)
  # The sleep holds none of our descriptors: killing the loop must not leave it keeping a caller's pipe open.
  (while sleep 15 >/dev/null 2>&1; do log "$label: still running ($(($(date +%s) - start))s)"; done) &
  local ticker=$!
  "$@" </dev/null || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  log "$label: done in $(($(date +%s) - start))s"
  return "$rc"
}

version_ge() { # a >= b for dotted versions
  [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" = "$2" ]
}

# require_go MIN WHAT: a Go that can build WHAT (a go.mod whose `go` directive is MIN).
require_go() {
  command -v go >/dev/null 2>&1 \
    || die "Go (>= $1) is required to build $2: no binary download is possible here. Install Go and re-run."
  local gover
  gover="$(go env GOVERSION 2>/dev/null | sed 's/^go//')"
  if ! version_ge "$gover" "$1"; then
    version_ge "$gover" "1.21" || die "Go $gover is too old: need >= $1 (or >= 1.21, which can fetch it)"
    log "Go $gover < $1: letting Go fetch the toolchain it needs from the module proxy"
    export GOTOOLCHAIN=auto
  fi
}

# The CLI's compile flags: what install-toolchain.sh compiled is then reused from Go's build cache.
# One `-tags` value (comma-separated), read by the scripts that source this.
# shellcheck disable=SC2034,SC2054
GO_TOOL_BUILD_FLAGS=(-trimpath -tags osusergo,grpcnotrace)

# go_tool_path CACHE NAME DIR: the cached binary of the Go tool module in DIR, keyed by its sources and the Go
# version.
go_tool_path() {
  local key
  key="$( (
    go env GOVERSION
    cd "$3" && find . -maxdepth 1 -type f -print0 | sort -z | xargs -0 sha256sum
  ) | sha256sum | cut -c1-16)"
  printf '%s/%s-%s' "$1" "$2" "$key"
}

# build_go_tool CACHE NAME DIR: builds the Go tool module in DIR unless its cached binary exists, one build at a
# time per machine (parallel CI jobs and language hosts share the cache); prints the binary's path on stdout.
build_go_tool() {
  local cache=$1 name=$2 dir=$3 bin
  bin="$(go_tool_path "$cache" "$name" "$dir")"
  if [ ! -x "$bin" ]; then
    mkdir -p "$cache"
    (
      if command -v flock >/dev/null 2>&1; then
        exec 9>"$cache/.lock"
        flock 9
      fi
      [ -x "$bin" ] && exit 0
      # -mod=readonly: the committed go.sum decides every dependency.
      with_progress "compiling $name (pulumi codegen from the Go module proxy; slow only the first time)" \
        env GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly" go build -C "$dir" "${GO_TOOL_BUILD_FLAGS[@]}" -o "$bin.tmp" . >&2 \
        || die "go build of $dir failed; see the output above"
      mv -f "$bin.tmp" "$bin"
    ) || exit 1
  else
    log "using the cached $name ($bin)"
  fi
  printf '%s\n' "$bin"
}
