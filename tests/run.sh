#!/usr/bin/env bash
# run.sh: runs every unit test binary, then every e2e test, and ends with one summary line.
# Env: KUBELING_BIN (default build/asan/kubeling), KUBELING_E2E_FILTER (substring of test names).
set -uo pipefail
cd "$(dirname "$0")/.."

unit_pass=0 unit_fail=0 unit_cases=0
failed=()

run_unit() {
    local bin out
    for bin in build/asan/tests/test_*; do
        [[ -x "$bin" ]] || continue
        out=$(ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 "$bin" 2>&1)
        local rc=$?
        local n
        n=$(sed -n 's/^\[==========\] \([0-9]*\) test(s) run\./\1/p' <<<"$out" | tail -n 1)
        unit_cases=$((unit_cases + ${n:-0}))
        if [[ $rc -eq 0 ]]; then
            unit_pass=$((unit_pass + 1))
            echo "unit: ok   $(basename "$bin") (${n:-0} tests)"
        else
            unit_fail=$((unit_fail + 1))
            failed+=("unit/$(basename "$bin")")
            echo "unit: FAIL $(basename "$bin")"
            sed 's/^/    /' <<<"$out" | grep -vE '^\s+\[ (RUN|      OK) ' | tail -n 60
        fi
    done
}

e2e_pass=0 e2e_fail=0
run_e2e() {
    local f
    export KUBELING_BIN="${KUBELING_BIN:-$PWD/build/asan/kubeling}"
    for f in tests/e2e/test_*.sh; do
        local log
        log=$(mktemp)
        bash "$f" >"$log" 2>&1
        local rc=$?
        local ok nok
        ok=$(grep -c '^ok ' "$log")
        nok=$(grep -c '^not ok ' "$log")
        e2e_pass=$((e2e_pass + ok))
        e2e_fail=$((e2e_fail + nok))
        if [[ $rc -ne 0 && $nok -eq 0 ]]; then
            e2e_fail=$((e2e_fail + 1)) # the script itself died
            echo "not ok $(basename "$f") exited $rc" >>"$log"
        fi
        if [[ $rc -ne 0 || $nok -gt 0 ]]; then
            failed+=("e2e/$(basename "$f" .sh)")
            cat "$log"
        else
            grep -E '^(ok|#)' "$log"
        fi
        rm -f "$log"
    done
}

# Each libFuzzer target runs KUBELING_FUZZ_SECONDS (default 20) from its committed seed corpus
# (copied, so the repository's corpus stays as committed); a crash fails the run and leaves the
# reproducer in build/fuzz/crashes/.
fuzz_pass=0 fuzz_fail=0
run_fuzz() {
    local bin name work out
    for bin in build/fuzz/fuzz/*; do
        [[ -x "$bin" ]] || continue
        name=$(basename "$bin")
        work=$(mktemp -d)
        cp tests/fuzz/corpus/"$name"/* "$work/" 2>/dev/null
        mkdir -p build/fuzz/crashes
        out=$("$bin" -max_total_time="${KUBELING_FUZZ_SECONDS:-20}" -max_len=16384 \
            -artifact_prefix=build/fuzz/crashes/ "$work" 2>&1)
        local rc=$?
        rm -rf "$work"
        if [[ $rc -eq 0 ]]; then
            fuzz_pass=$((fuzz_pass + 1))
            echo "fuzz: ok   $name ($(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' <<<"$out") runs)"
        else
            fuzz_fail=$((fuzz_fail + 1))
            failed+=("fuzz/$name")
            echo "fuzz: FAIL $name"
            tail -n 40 <<<"$out" | sed 's/^/    /'
        fi
    done
}

start=$(date +%s)
if [[ "${1:-}" == fuzz ]]; then
    run_fuzz
    [[ $fuzz_fail -eq 0 ]] && { echo "SUMMARY: PASS - fuzz ${fuzz_pass} targets"; exit 0; }
    echo "SUMMARY: FAIL - fuzz: ${failed[*]}"
    exit 1
fi
run_unit
run_fuzz
run_e2e
secs=$(($(date +%s) - start))
if [[ $unit_fail -eq 0 && $e2e_fail -eq 0 && $fuzz_fail -eq 0 && $((unit_pass + e2e_pass)) -gt 0 ]]; then
    echo "SUMMARY: PASS - unit ${unit_pass} binaries (${unit_cases} tests), fuzz ${fuzz_pass} targets, e2e ${e2e_pass} checks, ${secs}s"
    exit 0
fi
echo "SUMMARY: FAIL - unit ${unit_fail} of $((unit_pass + unit_fail)) binaries failed, fuzz ${fuzz_fail} failed, e2e ${e2e_fail} failed of $((e2e_pass + e2e_fail)): ${failed[*]}"
exit 1
