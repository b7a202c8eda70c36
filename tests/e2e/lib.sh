# lib.sh: helpers for e2e tests, sourced by every tests/e2e/test_*.sh. Output is TAP-like:
# "ok <name>" or "not ok <name>" per check, with the reason on the following "#" lines.
set -uo pipefail

KUBELING_BIN="${KUBELING_BIN:-$PWD/build/asan/kubeling}"
E2E_TMP=$(mktemp -d /tmp/kubeling-e2e.XXXXXX)
trap 'e2e_cleanup' EXIT
E2E_CLEANUPS=()

e2e_cleanup() {
    local c
    for c in "${E2E_CLEANUPS[@]}"; do eval "$c" || true; done
    rm -rf "$E2E_TMP"
}

# t NAME FUNC: runs FUNC in a subshell; any failing `expect` marks the check failed.
t() {
    local name=$1 fn=$2 out
    if out=$( (set -e; "$fn") 2>&1); then
        echo "ok $name"
        grep '^# ' <<<"$out" || true
    else
        echo "not ok $name"
        sed 's/^/#   /' <<<"$out" | tail -n 30
    fi
}

fail() {
    echo "FAILED: $*" >&2
    exit 1
}

# run_cmd OUTFILE CMD...: runs CMD, stdout+stderr to OUTFILE, sets RC.
run_cmd() {
    local out=$1
    shift
    "$@" >"$out" 2>&1
    RC=$?
    return 0
}

expect_rc() {
    [[ "$RC" -eq "$1" ]] || fail "exit code $RC, want $1 ($2)"
}

expect_grep() { # expect_grep FILE REGEX
    grep -qE -- "$2" "$1" || { cat "$1" >&2; fail "output lacks /$2/"; }
}

expect_lines() { # expect_lines FILE N
    local n
    n=$(wc -l <"$1")
    [[ "$n" -eq "$2" ]] || { cat "$1" >&2; fail "output has $n lines, want $2"; }
}
