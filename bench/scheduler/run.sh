#!/usr/bin/env bash
# bench/scheduler/run.sh: the scheduler core alone (no API): NODES nodes (16 CPU, 64Gi, 4
# zones), PODS pods of 10 ReplicaSets with a Service each, scheduled one by one with filters,
# all default scores and assume; then the same with required anti-affinity per hostname.
# Env: NODES (100), PODS (1000).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=build/bench/bench/scheduler/sched_bench
[[ -x $BIN ]] || { echo "build it first: make FLAVOR=bench bench-bins" >&2; exit 1; }
"$BIN" "${NODES:-100}" "${PODS:-1000}"
