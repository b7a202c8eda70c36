#!/usr/bin/env bash
# test_cli: the multi-call binary's roles, flags, config file and error handling.
. "$(dirname "$0")/lib.sh"
K=$KUBELING_BIN

version_lists_every_library() {
    run_cmd "$E2E_TMP/v" "$K" version
    expect_rc 0 "version"
    expect_grep "$E2E_TMP/v" '^kubeling version v[0-9]+\.[0-9]+\.[0-9]+'
    expect_grep "$E2E_TMP/v" 'git commit: +[0-9a-f]{12}|git commit: +unknown'
    expect_grep "$E2E_TMP/v" 'build date: +[0-9]{4}-[0-9]{2}-[0-9]{2}T'
    expect_grep "$E2E_TMP/v" 'target arch: x86_64'
    local lib
    for lib in sqlite mbedtls libuv cjson llhttp zlib; do
        expect_grep "$E2E_TMP/v" "^    $lib +[0-9]+\.[0-9]+\.[0-9]+"
    done
}

version_json_is_valid_json() {
    run_cmd "$E2E_TMP/j" "$K" version -o json
    expect_rc 0 "version -o json"
    /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert set(d["libraries"])-{"mimalloc"}=={"sqlite","mbedtls","libuv","cjson","llhttp","zlib"}, d; assert ("mimalloc" in d["libraries"])==(d["libc"]=="musl"), d' "$E2E_TMP/j" ||
        fail "bad json: $(cat "$E2E_TMP/j")"
}

help_lists_roles() {
    run_cmd "$E2E_TMP/h" "$K" help
    expect_rc 0 "help"
    local r
    for r in server agent version help; do expect_grep "$E2E_TMP/h" "^  $r +[a-z]"; done
    expect_grep "$E2E_TMP/h" -- '--data-dir DIR'
    run_cmd "$E2E_TMP/hs" "$K" help server
    expect_rc 0 "help server"
    expect_grep "$E2E_TMP/hs" -- '--disable-agent'
    run_cmd "$E2E_TMP/hs2" "$K" server --help
    expect_rc 0 "server --help"
    cmp -s "$E2E_TMP/hs" "$E2E_TMP/hs2" || fail "help server differs from server --help"
    # the kubelet's flags: one table that both node roles list and parse, from argv and files
    local role
    for role in server agent; do
        run_cmd "$E2E_TMP/hn" "$K" help "$role"
        expect_grep "$E2E_TMP/hn" '^Node \(kubelet\) flags:'
        expect_grep "$E2E_TMP/hn" -- '--cluster-dns IP'
        expect_grep "$E2E_TMP/hn" -- '--max-pods N'
        run_cmd "$E2E_TMP/mp" "$K" "$role" --max-pods 0
        expect_rc 2 "$role --max-pods 0"
        expect_grep "$E2E_TMP/mp" 'max-pods'
        printf 'node-cidr-mask-size: 31\n' >"$E2E_TMP/mask.yaml"
        run_cmd "$E2E_TMP/mk" "$K" "$role" --config "$E2E_TMP/mask.yaml"
        expect_rc 2 "$role node-cidr-mask-size 31 from a file"
        expect_grep "$E2E_TMP/mk" 'node-cidr-mask-size'
    done
}

unknown_role_is_usage_error() {
    run_cmd "$E2E_TMP/o" "$K" frobnicate
    expect_rc 2 "unknown role"
    expect_lines "$E2E_TMP/o" 1
    expect_grep "$E2E_TMP/o" 'unknown role "frobnicate"'
    run_cmd "$E2E_TMP/o" "$K"
    expect_rc 2 "no role"
}

unknown_flag_is_usage_error() {
    run_cmd "$E2E_TMP/o" "$K" version --bogus
    expect_rc 2 "unknown flag after role"
    expect_lines "$E2E_TMP/o" 1
    expect_grep "$E2E_TMP/o" 'unknown flag: --bogus'
    run_cmd "$E2E_TMP/o" "$K" --bogus version
    expect_rc 2 "unknown flag before role"
    run_cmd "$E2E_TMP/o" "$K" -v 99 version
    expect_rc 2 "out-of-range verbosity"
    expect_grep "$E2E_TMP/o" 'invalid value "99" for --v'
    run_cmd "$E2E_TMP/o" "$K" version extra
    expect_rc 2 "unexpected positional"
    expect_grep "$E2E_TMP/o" 'unexpected argument "extra"'
}

malformed_config_is_usage_error() {
    printf 'v: 1\nlog-format: xml\n' >"$E2E_TMP/c1.yaml"
    run_cmd "$E2E_TMP/o" "$K" --config "$E2E_TMP/c1.yaml" version
    expect_rc 2 "bad value in config"
    expect_lines "$E2E_TMP/o" 1
    expect_grep "$E2E_TMP/o" "c1.yaml: line 2: key \"log-format\": invalid value \"xml\""
    printf 'output json\n' >"$E2E_TMP/c2.yaml"
    run_cmd "$E2E_TMP/o" "$K" version --config "$E2E_TMP/c2.yaml"
    expect_rc 2 "malformed line"
    expect_grep "$E2E_TMP/o" 'c2.yaml: line 1: expected "key: value"'
    run_cmd "$E2E_TMP/o" "$K" version --config "$E2E_TMP/missing.yaml"
    expect_rc 2 "missing config"
    expect_grep "$E2E_TMP/o" 'missing.yaml.*No such file'
}

config_sets_flags_and_command_line_wins() {
    printf '# role flag from the file\noutput: json\n' >"$E2E_TMP/c3.yaml"
    run_cmd "$E2E_TMP/o" "$K" version --config "$E2E_TMP/c3.yaml"
    expect_rc 0 "config output json"
    expect_grep "$E2E_TMP/o" '^\{"version":'
    run_cmd "$E2E_TMP/o" "$K" --config "$E2E_TMP/c3.yaml" version -o text
    expect_rc 0 "cli wins"
    expect_grep "$E2E_TMP/o" '^kubeling version v'
}

role_from_argv0() {
    ln -sf "$K" "$E2E_TMP/version"
    run_cmd "$E2E_TMP/o" "$E2E_TMP/version" -o json
    expect_rc 0 "argv[0] dispatch"
    expect_grep "$E2E_TMP/o" '"libraries":'
}

unbuilt_roles_fail_clearly() {
    run_cmd "$E2E_TMP/o" "$K" agent --server https://x:6443 --token t
    expect_rc 1 "agent not built"
    expect_grep "$E2E_TMP/o" 'not built yet'
}

t version_lists_every_library version_lists_every_library
t version_json_is_valid_json version_json_is_valid_json
t help_lists_roles help_lists_roles
t unknown_role_is_usage_error unknown_role_is_usage_error
t unknown_flag_is_usage_error unknown_flag_is_usage_error
t malformed_config_is_usage_error malformed_config_is_usage_error
t config_sets_flags_and_command_line_wins config_sets_flags_and_command_line_wins
t role_from_argv0 role_from_argv0
t unbuilt_roles_fail_clearly unbuilt_roles_fail_clearly
