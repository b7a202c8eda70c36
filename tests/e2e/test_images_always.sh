#!/usr/bin/env bash
# test_images_always: imagePullPolicy Always asks the registry on every container start, as
# upstream (root, real pods). Debian's docker-registry on loopback (TLS from a test CA trusted
# through registries.yaml, htpasswd basic auth served by a pull secret). The apiserver defaults
# the policy (Always for no tag or :latest, IfNotPresent for other tags); a pod whose image is
# current at the registry fetches only the manifest (no blob GET in the registry's log) and
# runs the local image; after a new image is pushed under the same tag the next pod runs it
# (a new containerStatuses.imageID, only the new config blob fetched: layers are reused), and so
# does the restarted container of an earlier pod; with
# the registry stopped an Always pod shows ErrImagePull then ImagePullBackOff with the error
# although the image is on the node, while an IfNotPresent pod runs from the local copy.
. "$(dirname "$0")/lib_node.sh" images_always
command -v docker-registry >/dev/null || { echo "ok skipped_no_docker_registry # SKIP"; exit 0; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
REGPY="$ROOT/tests/e2e/registry.py"
REG="$E2E_TMP/registry"
mkdir -p "$REG/storage" "$E2E_TMP/oci"
bash "$ROOT/rootfs/images/build.sh" "$E2E_TMP/img" >/dev/null 2>&1 || fail "building test images"
tar -xzf "$E2E_TMP/img/busybox-oci.tar.gz" -C "$E2E_TMP/oci"

# a second image: the same layers, another config (VARIANT=two in its environment)
/usr/bin/python3 - "$E2E_TMP/oci" "$E2E_TMP/oci2" <<'PY' || fail "making the second image"
import hashlib, json, os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
shutil.copytree(src, dst)
blobs = os.path.join(dst, "blobs", "sha256")
def load(d): return json.load(open(os.path.join(blobs, d[7:])))
def put(b):
    d = "sha256:" + hashlib.sha256(b).hexdigest()
    open(os.path.join(blobs, d[7:]), "wb").write(b)
    return d
top = load(json.load(open(os.path.join(src, "index.json")))["manifests"][0]["digest"])
desc = [m for m in top["manifests"] if os.path.exists(os.path.join(blobs, m["digest"][7:]))][0]
man = load(desc["digest"])
cfg = load(man["config"]["digest"])
cfg["config"]["Env"].append("VARIANT=two")
cb = json.dumps(cfg).encode()
man["config"]["digest"], man["config"]["size"] = put(cb), len(cb)
mb = json.dumps(man).encode()
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": man["mediaType"], "digest": put(mb),
           "size": len(mb)}]}, open(os.path.join(dst, "index.json"), "w"))

PY

. "$(dirname "$0")/lib_registry.sh"
RP=$(free_port)
registry_tls kubeling-always-ca
registry_htpasswd
# log level info: every request is logged with its URI, so the blobs fetched can be counted
registry_config "$REG/config.yml" "$RP" info "$(registry_htpasswd_auth)"
docker-registry serve "$REG/config.yml" >"$REG/registry.log" 2>&1 &
RPID=$!
E2E_CLEANUPS+=("kill $RPID 2>/dev/null; wait $RPID 2>/dev/null")
node_cleanup
registry_wait "$RP" "$REG/registry.log"
push() { # push OCI-DIR TAG
    REGISTRY_BASIC=test:secret /usr/bin/python3 "$REGPY" push "$REG" "https://127.0.0.1:$RP" \
        test/app "$2" "$1" "$REG/ca.crt" >/dev/null || fail "push $2"
}
push "$E2E_TMP/oci" latest
push "$E2E_TMP/oci" v1
R="127.0.0.1:$RP/test/app"

printf 'configs:\n  "127.0.0.1:%s":\n    tls:\n      ca_file: %s\n' "$RP" "$REG/ca.crt" >"$REG/registries.yaml"
start_server --private-registry "$REG/registries.yaml"
wait_node
kc 1.33 create secret docker-registry regcred --docker-server="127.0.0.1:$RP" \
    --docker-username=test --docker-password=secret >/dev/null || fail "create regcred"

# pod NAME IMAGE [POLICY]: prints its VARIANT, then waits for /tmp/stop (restartPolicy Always:
# the container then starts again, with a fresh root); no policy: the apiserver's default
pod() {
    cat <<JSON | kc 1.33 apply -f - >/dev/null || fail "apply $1"
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$1"},"spec":{"nodeName":"$NODE",
 "terminationGracePeriodSeconds":1,"imagePullSecrets":[{"name":"regcred"}],
 "containers":[{"name":"c","image":"$2"${3:+,\"imagePullPolicy\":\"$3\"},
 "command":["sh","-c","echo variant=\$VARIANT; until [ -f /tmp/stop ]; do sleep 0.2; done"]}]}}
JSON
}
events_of() {
    kc 1.33 get events --field-selector "involvedObject.name=$1" \
        -o jsonpath='{range .items[*]}{.reason}|{.message}{"\n"}{end}'
}
image_id() { kc 1.33 get pod "$1" -o jsonpath='{.status.containerStatuses[0].imageID}'; }
# answered GETs in the registry's access log: blobs, and the manifests of tag latest
blob_gets() { grep -c '"GET /v2/test/app/blobs/sha256:[0-9a-f]* HTTP/[0-9.]*" 200 ' "$REG/registry.log" || true; }
latest_gets() { grep -c '"GET /v2/test/app/manifests/latest HTTP/[0-9.]*" 200 ' "$REG/registry.log" || true; }
logs_of() { # the container's output once it has printed
    local i
    for i in $(seq 150); do
        kc 1.33 logs "$1" >"$E2E_TMP/log.$1" 2>/dev/null && [[ -s "$E2E_TMP/log.$1" ]] && break
        sleep 0.2
    done
    cat "$E2E_TMP/log.$1"
}

apiserver_defaults_the_policy() {
    pod a1 "$R"
    pod tagged "$R:v404" # not in the registry: nothing is fetched for it
    [[ $(kc 1.33 get pod a1 -o jsonpath='{.spec.containers[0].imagePullPolicy}') == Always ]] ||
        fail "no tag: $(kc 1.33 get pod a1 -o jsonpath='{.spec.containers[0].imagePullPolicy}')"
    kc 1.33 get pod tagged -o yaml >"$E2E_TMP/tagged.yaml"
    expect_grep "$E2E_TMP/tagged.yaml" '^    imagePullPolicy: IfNotPresent$'
    kc 1.33 delete pod tagged --wait=false >/dev/null
}

always_pulls_then_runs() {
    wait_for a1 '{.status.phase}' '^Running$' 60
    [[ $(logs_of a1) == variant= ]] || fail "a1 printed: $(cat "$E2E_TMP/log.a1")"
    events_of a1 >"$E2E_TMP/ev"
    expect_grep "$E2E_TMP/ev" "^Pulling\\|Pulling image \"$R\"$"
    expect_grep "$E2E_TMP/ev" "^Pulled\\|Successfully pulled image \"$R\" in .* Image size: [0-9]+ bytes\\.$"
}

current_image_fetches_only_the_manifest() {
    local before manifests
    before=$(blob_gets)
    manifests=$(latest_gets)
    ((before == 3)) || fail "the first pull fetched $before blobs, not the config and 2 layers"
    pod a2 "$R"
    wait_for a2 '{.status.phase}' '^Running$' 60
    [[ $(image_id a2) == "$(image_id a1)" ]] || fail "a2 runs $(image_id a2), a1 $(image_id a1)"
    [[ $(blob_gets) == "$before" ]] || fail "blobs fetched again: $before then $(blob_gets)"
    [[ $(latest_gets) == $((manifests + 1)) ]] || fail "manifest GETs: $manifests then $(latest_gets)"
    grep -q "pod default/a2: image $R is up to date at the registry" "$E2E_TMP/server.log" ||
        fail "the kubelet did not find the image current"
    events_of a2 >"$E2E_TMP/ev"
    expect_grep "$E2E_TMP/ev" "^Pulling\\|Pulling image \"$R\"$"
    expect_grep "$E2E_TMP/ev" "^Pulled\\|Successfully pulled image \"$R\" in "
    ! grep -q 'already present on machine' "$E2E_TMP/ev" || fail "Always reported the image present"
}

new_image_under_the_same_tag_is_used() {
    local before id1
    id1=$(image_id a1)
    push "$E2E_TMP/oci2" latest
    before=$(blob_gets)
    pod a3 "$R"
    wait_for a3 '{.status.phase}' '^Running$' 60
    [[ $(logs_of a3) == variant=two ]] || fail "a3 printed: $(cat "$E2E_TMP/log.a3")"
    [[ -n $(image_id a3) && $(image_id a3) != "$id1" ]] || fail "imageID $(image_id a3), before $id1"
    # the new config only: its two layers were on the node already
    [[ $(blob_gets) == $((before + 1)) ]] || fail "blob GETs: $before then $(blob_gets)"
    # a1's container starts again: with the new image
    kc 1.33 exec a1 -- sh -c ': >/tmp/stop' || fail "exec in a1"
    wait_for a1 '{.status.containerStatuses[0].restartCount}' '^1$' 60
    wait_for a1 '{.status.containerStatuses[0].state.running.startedAt}' '.' 60
    [[ $(image_id a1) == "$(image_id a3)" ]] || fail "a1 restarted with $(image_id a1), not $(image_id a3)"
    [[ $(logs_of a1) == variant=two ]] || fail "a1 printed after its restart: $(cat "$E2E_TMP/log.a1")"
    # a pinned tag with IfNotPresent keeps the copy on the node
    pod i1 "$R:v1" IfNotPresent
    wait_for i1 '{.status.phase}' '^Running$' 60
    [[ $(logs_of i1) == variant= ]] || fail "i1 printed: $(cat "$E2E_TMP/log.i1")"
}

unreachable_registry_is_image_pull_backoff() {
    kill "$RPID"
    wait "$RPID" 2>/dev/null
    pod a4 "$R"
    pod i2 "$R:v1" IfNotPresent
    wait_for a4 '{.status.containerStatuses[0].state.waiting.reason}' '^(ErrImagePull|ImagePullBackOff)$' 60
    wait_for a4 '{.status.containerStatuses[0].state.waiting.reason}' '^ImagePullBackOff$' 60
    local msg
    msg=$(kc 1.33 get pod a4 -o jsonpath='{.status.containerStatuses[0].state.waiting.message}')
    [[ $msg == *"127.0.0.1:$RP"* ]] || fail "message: $msg"
    events_of a4 >"$E2E_TMP/ev"
    expect_grep "$E2E_TMP/ev" "^Failed\\|Failed to pull image \"$R\": "
    expect_grep "$E2E_TMP/ev" '^Failed\|Error: ErrImagePull$'
    expect_grep "$E2E_TMP/ev" '^BackOff\|Back-off pulling image'
    wait_for i2 '{.status.phase}' '^Running$' 60
    [[ $(logs_of i2) == variant= ]] || fail "i2 printed: $(cat "$E2E_TMP/log.i2")"
}

t "the apiserver defaults imagePullPolicy (Always without a tag, IfNotPresent for a tag)" apiserver_defaults_the_policy
t "an Always pod pulls (Pulling, Pulled) and runs" always_pulls_then_runs
t "an image current at the registry: only the manifest is fetched" current_image_fetches_only_the_manifest
t "a new image pushed under the same tag is pulled and run (layers reused), also on a restart" new_image_under_the_same_tag_is_used
t "registry down: Always is ImagePullBackOff, IfNotPresent runs the local copy" unreachable_registry_is_image_pull_backoff
