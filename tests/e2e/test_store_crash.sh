#!/usr/bin/env bash
# test_store_crash: the datastore keeps every acknowledged write across kill -9 in the middle
# of a write storm, never reuses a revision, and survives a full disk.
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
STORM="${KUBELING_HELPERS:-$ROOT/build/asan/tests/helpers}/store_storm"
export ASAN_OPTIONS=detect_leaks=0 # killed processes cannot free anything

kill9_during_write_storm_loses_nothing() {
    [[ -x "$STORM" ]] || fail "$STORM missing"
    local db="$E2E_TMP/crash.db" acks="$E2E_TMP/acks" i pid before after
    : >"$acks"
    for i in $(seq 1 25); do
        before=$(wc -l <"$acks")
        "$STORM" write "$db" "$acks" "$i" 2>"$E2E_TMP/storm.err" &
        pid=$!
        # wait for its first acknowledgements (a loaded machine may start it slowly), then let
        # it run a random 0-300 ms more, so the kill lands mid-storm
        local waited=0
        while [[ $(wc -l <"$acks") -le $before && $waited -lt 1000 ]] && kill -0 "$pid" 2>/dev/null; do
            sleep 0.01
            waited=$((waited + 1))
        done
        sleep "0.$((RANDOM % 300))"
        kill -9 "$pid"
        wait "$pid" 2>/dev/null
        after=$(wc -l <"$acks")
        [[ $after -gt $before ]] || { cat "$E2E_TMP/storm.err"; fail "round $i acknowledged nothing"; }
        "$STORM" verify "$db" "$acks" >"$E2E_TMP/verify.out" 2>&1 ||
            { cat "$E2E_TMP/verify.out"; fail "round $i: acknowledged data lost"; }
    done
    echo "# $(tail -n 1 "$E2E_TMP/verify.out") after 25 kills"
}

full_disk_fails_cleanly_and_recovers() {
    [[ -x "$STORM" ]] || fail "$STORM missing"
    local mnt="$E2E_TMP/small"
    mkdir -p "$mnt"
    # a private mount namespace: the tmpfs vanishes with the test, even on failure
    unshare -m bash -euc '
        mount -t tmpfs -o size=24m tmpfs "$1"
        dd if=/dev/zero of="$1/ballast" bs=1M count=8 status=none
        "$2" fill "$1/db"                 # writes until a clean ENOSPC
        "$2" put "$1/db" /too-much && exit 9 || true
        rm "$1/ballast"                   # space comes back
        "$2" put "$1/db" /after-recovery
        : > "$1/acks"
        "$2" verify "$1/db" "$1/acks"      # integrity_check ok, revisions move forward
    ' _ "$mnt" "$STORM" >"$E2E_TMP/full.out" 2>&1 || { cat "$E2E_TMP/full.out"; fail "disk-full scenario"; }
    grep -q "filled" "$E2E_TMP/full.out" || fail "fill did not report"
    echo "# $(grep filled "$E2E_TMP/full.out")"
}

t kill9_during_write_storm_loses_nothing kill9_during_write_storm_loses_nothing
t full_disk_fails_cleanly_and_recovers full_disk_fails_cleanly_and_recovers
