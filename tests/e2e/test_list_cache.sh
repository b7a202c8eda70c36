#!/usr/bin/env bash
# test_list_cache: lists answered from the list cache stay exact after every kind of write
# (create, update, delete, deletecollection, namespace content), across resourceVersion
# semantics, limit/continue, selectors and Tables; large bodies are gzipped for clients that
# accept it (kubectl, curl --compressed) and plain for the others (python3-kubernetes).
cd "$(dirname "$0")/../.." || exit 1
. tests/e2e/lib.sh

start_server

# names NS [QUERY]: the names of a list's items, one a line, via the plain API (curl, no gzip)
names() {
    curl_admin "https://127.0.0.1:$PORT/api/v1/namespaces/$1/secrets${2:+?$2}" |
        $PY -c 'import json,sys; [print(i["metadata"]["name"]) for i in json.load(sys.stdin)["items"]]'
}

list_rv() { # list_rv NS: the list's resourceVersion
    curl_admin "https://127.0.0.1:$PORT/api/v1/namespaces/$1/secrets" |
        $PY -c 'import json,sys; print(json.load(sys.stdin)["metadata"]["resourceVersion"])'
}

big_secrets() { # big_secrets NS N: N secrets of ~60 KiB each (the list passes 128 KiB)
    head -c 33000 /dev/urandom | base64 -w0 >"$E2E_TMP/big.txt"
    kc 1.33 create namespace "$1" >/dev/null
    local i
    for i in $(seq "$2"); do
        kc 1.33 -n "$1" create secret generic "big$i" --from-file="$E2E_TMP/big.txt" >/dev/null ||
            fail "create big$i"
    done
}

lists_follow_every_write() {
    big_secrets lc 4
    names lc >"$E2E_TMP/n1"
    names lc >"$E2E_TMP/n1b" # the second list comes from the cache
    expect_lines "$E2E_TMP/n1" 4
    cmp -s "$E2E_TMP/n1" "$E2E_TMP/n1b" || fail "repeated list differs"
    kc 1.33 -n lc create secret generic small --from-literal=a=b >/dev/null
    names lc >"$E2E_TMP/n2"
    expect_lines "$E2E_TMP/n2" 5
    expect_grep "$E2E_TMP/n2" '^small$'
    kc 1.33 -n lc label secret big2 color=blue >/dev/null
    curl_admin "https://127.0.0.1:$PORT/api/v1/namespaces/lc/secrets" >"$E2E_TMP/l3"
    expect_grep "$E2E_TMP/l3" '"color":"blue"'
    kc 1.33 -n lc delete secret big1 >/dev/null
    names lc >"$E2E_TMP/n4"
    expect_lines "$E2E_TMP/n4" 4
    grep -q '^big1$' "$E2E_TMP/n4" && fail "deleted big1 still listed"
    # the list's resourceVersion moves with writes elsewhere, the items stay
    local rv1 rv2
    rv1=$(list_rv lc)
    kc 1.33 -n default create secret generic elsewhere --from-literal=a=b >/dev/null
    rv2=$(list_rv lc)
    [[ $rv2 -gt $rv1 ]] || fail "list resourceVersion $rv2 not after $rv1"
    names lc >"$E2E_TMP/n5"
    cmp -s "$E2E_TMP/n4" "$E2E_TMP/n5" || fail "a write elsewhere changed the list"
    kc 1.33 -n lc delete secret --all >/dev/null
    names lc >"$E2E_TMP/n6"
    expect_lines "$E2E_TMP/n6" 0
}

lists_keep_their_query_semantics() {
    big_secrets lq 3
    kc 1.33 -n lq label secret big3 pick=yes >/dev/null
    names lq >/dev/null # fills the cache
    names lq "labelSelector=pick%3Dyes" >"$E2E_TMP/q1"
    expect_lines "$E2E_TMP/q1" 1
    expect_grep "$E2E_TMP/q1" '^big3$'
    names lq "fieldSelector=metadata.name%3Dbig2" >"$E2E_TMP/q2"
    expect_lines "$E2E_TMP/q2" 1
    names lq "resourceVersion=0" >"$E2E_TMP/q3"
    expect_lines "$E2E_TMP/q3" 3
    # a limit below the count pages with continue; at or above it, the whole list
    curl_admin "https://127.0.0.1:$PORT/api/v1/namespaces/lq/secrets?limit=2" >"$E2E_TMP/q4"
    expect_grep "$E2E_TMP/q4" '"continue":"'
    curl_admin "https://127.0.0.1:$PORT/api/v1/namespaces/lq/secrets?limit=3" >"$E2E_TMP/q5"
    grep -q '"continue"' "$E2E_TMP/q5" && fail "limit=3 of 3 has a continue token"
    # a resourceVersion from the future is refused, a recent one is served
    local rv
    rv=$(list_rv lq)
    names lq "resourceVersion=$rv" >"$E2E_TMP/q6"
    expect_lines "$E2E_TMP/q6" 3
    curl_admin -o /dev/null -w '%{http_code}\n' \
        "https://127.0.0.1:$PORT/api/v1/namespaces/lq/secrets?resourceVersion=$((rv + 1000))" >"$E2E_TMP/q7"
    expect_grep "$E2E_TMP/q7" '^504$'
    # Tables (kubectl get) and the exact revision before the label
    run_cmd "$E2E_TMP/q8" kc 1.33 -n lq get secrets
    expect_grep "$E2E_TMP/q8" '^big3 +Opaque +1 '
    run_cmd "$E2E_TMP/q9" kc 1.27 -n lq get secrets -l pick=yes -o name
    expect_grep "$E2E_TMP/q9" '^secret/big3$'
    expect_lines "$E2E_TMP/q9" 1
}

large_lists_are_gzipped_for_clients_that_ask() {
    big_secrets lz 4
    local url="https://127.0.0.1:$PORT/api/v1/namespaces/lz/secrets" i
    for i in 1 2; do # the first from the store, the second from the cache
        curl_admin --compressed -D "$E2E_TMP/h$i" -o "$E2E_TMP/b$i" "$url"
        expect_grep "$E2E_TMP/h$i" '^[Cc]ontent-[Ee]ncoding: gzip'
        expect_grep "$E2E_TMP/h$i" '^[Vv]ary: Accept-Encoding'
        $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert len(d["items"]) == 4, d["metadata"]' \
            "$E2E_TMP/b$i" || fail "gzip body $i is not the list"
    done
    # on the wire: a fraction of the plain body
    curl_admin -H 'Accept-Encoding: gzip' -o "$E2E_TMP/raw.gz" "$url"
    curl_admin -o "$E2E_TMP/plain" "$url"
    local z p
    z=$(stat -c %s "$E2E_TMP/raw.gz") p=$(stat -c %s "$E2E_TMP/plain")
    [[ $z -lt $((p * 9 / 10)) ]] || fail "gzip body $z bytes, plain $p"
    gzip -t "$E2E_TMP/raw.gz" || fail "not a valid gzip file"
    # no gzip without Accept-Encoding, nor with q=0, nor for small bodies
    curl_admin -D "$E2E_TMP/hp" -o /dev/null "$url"
    grep -qi '^content-encoding' "$E2E_TMP/hp" && fail "gzip without Accept-Encoding"
    curl_admin -H 'Accept-Encoding: gzip;q=0' -D "$E2E_TMP/hq" -o /dev/null "$url"
    grep -qi '^content-encoding' "$E2E_TMP/hq" && fail "gzip despite q=0"
    curl_admin --compressed -D "$E2E_TMP/hs" -o /dev/null "https://127.0.0.1:$PORT/api/v1/namespaces"
    grep -qi '^content-encoding' "$E2E_TMP/hs" && fail "small body gzipped"
    # kubectl (Go's transport asks for gzip) and the python client (it does not)
    run_cmd "$E2E_TMP/k" kc 1.33 -n lz get secrets -o name
    expect_lines "$E2E_TMP/k" 4
    run_cmd "$E2E_TMP/k27" kc 1.27 -n lz get secrets -o json
    expect_grep "$E2E_TMP/k27" '"name": "big4"'
    run_cmd "$E2E_TMP/py" $PY -c "
from kubernetes import client, config
config.load_kube_config('$DATA/server/admin.kubeconfig')
print(len(client.CoreV1Api().list_namespaced_secret('lz').items))"
    expect_grep "$E2E_TMP/py" '^4$'
}

t lists_follow_every_write lists_follow_every_write
t lists_keep_their_query_semantics lists_keep_their_query_semantics
t large_lists_are_gzipped_for_clients_that_ask large_lists_are_gzipped_for_clients_that_ask

kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
STOP_RC=$?
stopped_cleanly() {
    [[ $STOP_RC -eq 0 ]] || { tail -n 40 "$E2E_TMP/server.log"; fail "server exited $STOP_RC"; }
}
t server_stops_cleanly stopped_cleanly
