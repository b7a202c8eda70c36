#!/usr/bin/env bash
# run.sh [NAME...]: runs bench/<name>/run.sh for each name (default: all) and prints their
# result lines. Figures are copied by hand into docs/benchmarks.md with this command.
set -euo pipefail
cd "$(dirname "$0")/.."
names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
    for d in bench/*/run.sh; do names+=("$(basename "$(dirname "$d")")"); done
fi
for n in "${names[@]}"; do
    echo "== bench/$n ($(date -u +%FT%TZ), $(nproc) cores, $(uname -r))"
    "bench/$n/run.sh"
done
