#!/usr/bin/env bash
# install-deps.sh: apt-get the Debian packages named in the given lists, only those missing.
# Lists hold one package per line ("pkg" or "pkg:arch"); '#' starts a comment.
set -euo pipefail

read_lists() {
    local f p
    for f in "$@"; do
        while read -r p _; do
            [[ -z "$p" || "$p" == \#* ]] && continue
            printf '%s\n' "$p"
        done <"$f"
    done
}

is_installed() { # a name without ":arch" means the native architecture's (or an "all") package
    local p=$1 s
    if [[ "$p" != *:* ]]; then
        s=$(dpkg-query -W -f='${Status}' "$p:$(dpkg --print-architecture)" 2>/dev/null) ||
            s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || s=
    else
        s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || s=
    fi
    [[ "$s" == "install ok installed" ]]
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}

# Multiarch packages (musl-dev:arm64) need their architecture enabled before apt can see them.
enable_foreign_arches() {
    local a
    for a in $(printf '%s\n' "$@" | sed -n 's/^[^:]*:\(.*\)$/\1/p' | sort -u); do
        dpkg --print-foreign-architectures | grep -qx "$a" || as_root dpkg --add-architecture "$a"
    done
}

main() {
    local -a wanted missing=()
    mapfile -t wanted < <(read_lists "$@")
    local p
    for p in "${wanted[@]}"; do
        is_installed "$p" || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    echo "deps: installing ${missing[*]}"
    enable_foreign_arches "${missing[@]}"
    # A mirror mid-sync can fail one index; the packages we need usually still resolve.
    as_root apt-get update -qq >/dev/null 2>&1 || echo "deps: apt-get update reported errors; trying anyway"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/tmp/kubeling-deps.log 2>&1 || {
        tail -n 20 /tmp/kubeling-deps.log
        echo "deps: apt-get install failed (full log: /tmp/kubeling-deps.log)"
        return 1
    }
}

main "$@"
