#!/usr/bin/env bash
# test_images_pullsecret: image pulls by the kubelet from a private registry (root, real pods):
# Debian's docker-registry on loopback with htpasswd basic auth and a certificate from a test
# CA that only registries.yaml (--private-registry) makes trusted. A pod with a
# kubernetes.io/dockerconfigjson pull secret (made by `kubectl create secret docker-registry`)
# runs; one whose ServiceAccount carries a kubernetes.io/dockercfg secret runs; without
# credentials, or with a wrong password, the pod shows ErrImagePull/ImagePullBackOff with the
# registry's 401 message; a missing secret gives the FailedToRetrieveImagePullSecret event; an
# image named under another registry is served by a registries.yaml mirror (with a rewrite and
# the mirror's own credentials). `kubeling images pull --private-registry` trusts the CA given
# there, refuses the certificate without it, skips verification with insecure_skip_verify,
# and reports a refusing mirror's error after the registry's; a second registry wanting a
# client certificate gets the one of registries.yaml (cert_file, key_file).
. "$(dirname "$0")/lib_node.sh" pullsecret
command -v docker-registry >/dev/null || { echo "ok skipped_no_docker_registry # SKIP"; exit 0; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
REGPY="$ROOT/tests/e2e/registry.py"
REG="$E2E_TMP/registry"
mkdir -p "$REG/storage" "$E2E_TMP/oci"
bash "$ROOT/rootfs/images/build.sh" "$E2E_TMP/img" >/dev/null 2>&1 || fail "building test images"
tar -xzf "$E2E_TMP/img/busybox-oci.tar.gz" -C "$E2E_TMP/oci"

. "$(dirname "$0")/lib_registry.sh"
RP=$(free_port)
registry_tls kubeling-pull-ca
registry_htpasswd
registry_config "$REG/config.yml" "$RP" warn "$(registry_htpasswd_auth)"
# a second registry on the same storage that wants a client certificate (no other auth)
MP=$(free_port)
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=kubeling-puller \
    -keyout "$REG/client.key" -out "$REG/client.csr" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >"$REG/client.ext"
openssl x509 -req -in "$REG/client.csr" -CA "$REG/ca.crt" -CAkey "$REG/ca.key" -CAcreateserial \
    -days 2 -extfile "$REG/client.ext" -out "$REG/client.crt" 2>/dev/null
registry_config "$REG/mtls.yml" "$MP" warn "$(printf '    clientcas:\n      - %s/ca.crt' "$REG")"
docker-registry serve "$REG/config.yml" >"$REG/registry.log" 2>&1 &
RPID=$!
docker-registry serve "$REG/mtls.yml" >"$REG/mtls.log" 2>&1 &
MPID=$!
E2E_CLEANUPS+=("kill $RPID $MPID 2>/dev/null; wait $RPID $MPID 2>/dev/null")
node_cleanup
registry_wait "$RP" "$REG/registry.log"
for _ in $(seq 200); do
    mcode=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$REG/ca.crt" --cert "$REG/client.crt" \
        --key "$REG/client.key" "https://127.0.0.1:$MP/v2/" 2>/dev/null || true)
    [[ "$mcode" == 200 ]] && break
    sleep 0.05
done
[[ "$mcode" == 200 ]] || { cat "$REG/mtls.yml" "$REG/mtls.log"; fail "mTLS registry did not start"; }
# one tag per pod: a tag pulled once is present for every later pod (IfNotPresent)
for tag in v1 v2 v3 v4 v5 v6 cli; do
    REGISTRY_BASIC=test:secret /usr/bin/python3 "$REGPY" push "$REG" "https://127.0.0.1:$RP" \
        test/busybox "$tag" "$E2E_TMP/oci" "$REG/ca.crt" >/dev/null || fail "push $tag"
done
R="127.0.0.1:$RP/test/busybox"

cat >"$REG/registries.yaml" <<YAML
mirrors:
  mirror.kubeling.test:
    endpoint:
      - "https://localhost:$RP"
    rewrite:
      "^library/(.*)": "test/\$1"
configs:
  "localhost:$RP":
    auth:
      username: test
      password: secret
    tls:
      ca_file: $REG/ca.crt
  "127.0.0.1:$RP":
    tls:
      ca_file: $REG/ca.crt
YAML
start_server --private-registry "$REG/registries.yaml"
wait_node

# pod NAME IMAGE [SPEC-EXTRA]: runs `echo pulled-ok` once
pod() {
    cat <<JSON | kc 1.33 apply -f - >/dev/null || fail "apply $1"
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$1"},"spec":{"nodeName":"$NODE",
 "restartPolicy":"Never"${3:+,$3},
 "containers":[{"name":"c","image":"$2","imagePullPolicy":"IfNotPresent",
 "command":["sh","-c","echo pulled-ok"]}]}}
JSON
}

events_of() {
    kc 1.33 get events --field-selector "involvedObject.name=$1" \
        -o jsonpath='{range .items[*]}{.reason}|{.involvedObject.fieldPath}|{.message}{"\n"}{end}'
}

kc 1.33 create secret docker-registry regcred --docker-server="127.0.0.1:$RP" \
    --docker-username=test --docker-password=secret >/dev/null || fail "create regcred"
kc 1.33 create secret docker-registry badcred --docker-server="https://127.0.0.1:$RP/v1/" \
    --docker-username=test --docker-password=wrong >/dev/null || fail "create badcred"
CFG=$(printf '{"https://127.0.0.1:%s":{"auth":"%s","email":"t@example.test"}}' "$RP" "$(printf test:secret | base64 -w0)" | base64 -w0)
cat <<JSON | kc 1.33 apply -f - >/dev/null || fail "apply legacy secret and service account"
{"apiVersion":"v1","kind":"List","items":[
 {"apiVersion":"v1","kind":"Secret","metadata":{"name":"legacy"},"type":"kubernetes.io/dockercfg",
  "data":{".dockercfg":"$CFG"}},
 {"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"puller"},
  "imagePullSecrets":[{"name":"legacy"}]}]}
JSON
pod withsecret "$R:v1" '"imagePullSecrets":[{"name":"regcred"}]'
pod nocreds "$R:v2" '"imagePullSecrets":[{"name":"nosuch"}]'
pod wrongpass "$R:v3" '"imagePullSecrets":[{"name":"badcred"}]'
pod viasa "$R:v4" '"serviceAccountName":"puller"'
pod mirrored "mirror.kubeling.test/library/busybox:v5"

pull_secret_lets_the_pod_run() {
    wait_for withsecret '{.status.phase}' '^Succeeded$' 60
    events_of withsecret >"$E2E_TMP/ev"
    expect_grep "$E2E_TMP/ev" "^Pulled\\|spec.containers\\{c\\}\\|Successfully pulled image \"$R:v1\" in "
    "$KUBELING_BIN" --data-dir "$DATA" images list >"$E2E_TMP/l"
    expect_grep "$E2E_TMP/l" "^127.0.0.1:$RP/test/busybox +v1 "
}

no_credentials_is_image_pull_backoff_with_the_401() {
    wait_for nocreds '{.status.containerStatuses[0].state.waiting.reason}' '^ImagePullBackOff$' 60
    local msg
    msg=$(kc 1.33 get pod nocreds -o jsonpath='{.status.containerStatuses[0].state.waiting.message}')
    [[ $msg == *"authentication required (UNAUTHORIZED, HTTP 401)"* ]] || fail "message: $msg"
    events_of nocreds >"$E2E_TMP/ev"
    expect_grep "$E2E_TMP/ev" '^FailedToRetrieveImagePullSecret\|\|Unable to retrieve some image pull secrets \(nosuch\); attempting to pull the image may not succeed\.$'
    expect_grep "$E2E_TMP/ev" "^Failed\\|spec.containers\\{c\\}\\|Failed to pull image \"$R:v2\": .*HTTP 401"
    expect_grep "$E2E_TMP/ev" '^BackOff\|spec.containers\{c\}\|Back-off pulling image'
}

wrong_password_is_refused() {
    wait_for wrongpass '{.status.containerStatuses[0].state.waiting.reason}' '^(ErrImagePull|ImagePullBackOff)$' 60
    local msg
    msg=$(kc 1.33 get pod wrongpass -o jsonpath='{.status.containerStatuses[0].state.waiting.message}')
    [[ $msg == *"HTTP 401"* ]] || fail "message: $msg"
}

service_account_pull_secret_is_used() {
    wait_for viasa '{.status.phase}' '^Succeeded$' 60
}

mirror_serves_another_registry_name() {
    wait_for mirrored '{.status.phase}' '^Succeeded$' 60
    "$KUBELING_BIN" --data-dir "$DATA" images list >"$E2E_TMP/l"
    expect_grep "$E2E_TMP/l" '^mirror.kubeling.test/library/busybox +v5 '
}

cli_trusts_the_registries_yaml_ca() {
    local d="$E2E_TMP/cli"
    run_cmd "$E2E_TMP/o" "$KUBELING_BIN" --data-dir "$d" images pull --creds test:wrong \
        --private-registry "$REG/registries.yaml" "$R:cli"
    expect_rc 1 "pull with a wrong password"
    expect_grep "$E2E_TMP/o" 'authentication required \(UNAUTHORIZED, HTTP 401\)'
    run_cmd "$E2E_TMP/o" "$KUBELING_BIN" --data-dir "$d" images pull --creds test:secret \
        --private-registry "$REG/registries.yaml" "$R:cli"
    expect_rc 0 "pull trusting the registries.yaml CA"
    printf 'mirrors: {}\n' >"$E2E_TMP/empty.yaml"
    run_cmd "$E2E_TMP/o" "$KUBELING_BIN" --data-dir "$d" images pull --creds test:secret \
        --private-registry "$E2E_TMP/empty.yaml" "$R:v1"
    expect_rc 1 "pull without the CA"
    expect_grep "$E2E_TMP/o" 'TLS handshake with 127.0.0.1'
    printf 'configs:\n  "127.0.0.1:%s":\n    tls:\n      insecure_skip_verify: true\n' "$RP" >"$E2E_TMP/insecure.yaml"
    "$KUBELING_BIN" --data-dir "$d" images rm "$R:cli" >/dev/null || fail "rm"
    run_cmd "$E2E_TMP/o" "$KUBELING_BIN" --data-dir "$d" images pull --creds test:secret \
        --private-registry "$E2E_TMP/insecure.yaml" "$R:cli"
    expect_rc 0 "pull with insecure_skip_verify"
    # a mirror that refuses: the registry's own error, then the mirror's
    sed '/auth:/,/password:/d' "$REG/registries.yaml" >"$E2E_TMP/nocreds.yaml"
    run_cmd "$E2E_TMP/o" "$KUBELING_BIN" --data-dir "$d" images pull \
        --private-registry "$E2E_TMP/nocreds.yaml" mirror.kubeling.test/library/busybox:cli
    expect_rc 1 "pull through a mirror without its credentials"
    expect_grep "$E2E_TMP/o" "resolve mirror.kubeling.test: .* \\(mirrors: localhost:$RP: manifests/cli: authentication required \\(UNAUTHORIZED, HTTP 401\\)\\)"
    printf 'mirrors:\n  docker.io:\n    endpoint:\n      - ftp://x\n' >"$E2E_TMP/bad.yaml"
    run_cmd "$E2E_TMP/o" "$KUBELING_BIN" --data-dir "$d" images pull \
        --private-registry "$E2E_TMP/bad.yaml" "$R:v1"
    expect_rc 1 "a bad registries.yaml"
    expect_grep "$E2E_TMP/o" 'bad.yaml: registries.yaml: mirrors.docker.io: endpoint `ftp://x`: only http and https'
}

client_certificate_from_registries_yaml() {
    local d="$E2E_TMP/mtls"
    printf 'configs:\n  "127.0.0.1:%s":\n    tls:\n      ca_file: %s\n' "$MP" "$REG/ca.crt" >"$E2E_TMP/nocert.yaml"
    run_cmd "$E2E_TMP/o" "$KUBELING_BIN" --data-dir "$d" images pull \
        --private-registry "$E2E_TMP/nocert.yaml" "127.0.0.1:$MP/test/busybox:cli"
    expect_rc 1 "pull without a client certificate"
    expect_grep "$E2E_TMP/o" "GET https://127.0.0.1:$MP/v2/test/busybox/manifests/cli: .*TLS"
    printf '      cert_file: %s\n      key_file: %s\n' "$REG/client.crt" "$REG/client.key" |
        cat "$E2E_TMP/nocert.yaml" - >"$E2E_TMP/cert.yaml"
    run_cmd "$E2E_TMP/o" "$KUBELING_BIN" --data-dir "$d" images pull \
        --private-registry "$E2E_TMP/cert.yaml" "127.0.0.1:$MP/test/busybox:cli"
    expect_rc 0 "pull with the client certificate of registries.yaml"
}

t pull_secret_lets_the_pod_run pull_secret_lets_the_pod_run
t no_credentials_is_image_pull_backoff_with_the_401 no_credentials_is_image_pull_backoff_with_the_401
t wrong_password_is_refused wrong_password_is_refused
t service_account_pull_secret_is_used service_account_pull_secret_is_used
t mirror_serves_another_registry_name mirror_serves_another_registry_name
t cli_trusts_the_registries_yaml_ca cli_trusts_the_registries_yaml_ca
t client_certificate_from_registries_yaml client_certificate_from_registries_yaml
