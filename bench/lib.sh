# bench/lib.sh: shared by the bench/*/run.sh scripts, sourced from the repository root.

# bench_bin: BIN = the kubeling binary to measure (absolute path): the release build
# (build/static-x86_64) if present, else the bench or dev build; exits when there is none.
bench_bin() {
    BIN=
    local b
    for b in build/static-x86_64/kubeling build/bench/kubeling build/dev/kubeling; do
        [[ -x $b ]] && { BIN=$(readlink -f "$b"); return 0; }
    done
    echo "no kubeling binary: make static (or make)" >&2
    exit 1
}
