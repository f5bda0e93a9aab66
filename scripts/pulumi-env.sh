#!/usr/bin/env bash
# Local, offline Pulumi environment for this repository. Source it (`. scripts/pulumi-env.sh`) or run
# a command through it (`scripts/pulumi-env.sh pulumi up --yes`).
#   - state in a gitignored file backend (.state/pulumi), secrets with a fixed local passphrase
#     (fine for a local backend; override PULUMI_CONFIG_PASSPHRASE for anything shared);
#   - PULUMI_HOME inside .state so nothing touches ~/.pulumi;
#   - no update check, no plugin download; <repo>/bin first on PATH (pulumi, language host, shim);
#   - programs transpiled, not type-checked, at run time (PULUMI_NODEJS_TRANSPILE_ONLY): `npm run typecheck`
#     checks them (tsconfig.json includes examples/), and checking again on every operation costs 1-2 s.
# Variables already set by the caller win, so tests can point at their own temporary backend.
_pulumi_xen_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$_pulumi_xen_root/.state/pulumi}"
export PULUMI_HOME="${PULUMI_HOME:-$_pulumi_xen_root/.state/pulumi-home}"
if [ -z "${PULUMI_CONFIG_PASSPHRASE+x}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  export PULUMI_CONFIG_PASSPHRASE="pulumi-xen-local"
fi
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_NODEJS_TRANSPILE_ONLY="${PULUMI_NODEJS_TRANSPILE_ONLY:-true}"
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
case "$PATH:" in
  "$_pulumi_xen_root/bin:"*) ;;
  *) export PATH="$_pulumi_xen_root/bin:$PATH" ;;
esac
case "$PULUMI_BACKEND_URL" in
  file://*) mkdir -p "${PULUMI_BACKEND_URL#file://}" ;;
esac
mkdir -p "$PULUMI_HOME"
unset _pulumi_xen_root
# Executed rather than sourced: run the given command in this environment.
if [ "${BASH_SOURCE[0]:-$0}" = "$0" ] && [ "$#" -gt 0 ]; then
  exec "$@"
fi
