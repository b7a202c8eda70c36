#!/usr/bin/env bash
# test_images_pull: `kubeling images pull` from Debian's docker-registry on loopback over
# HTTPS with bearer-token auth (a token server in tests/e2e/registry.py), an index choosing
# this machine's platform, a re-pull of a current image ("up to date": only the manifest is
# fetched), pulls by digest, and the failures: no credentials, a missing
# image, an untrusted certificate.
. "$(dirname "$0")/lib.sh"
K=$KUBELING_BIN
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
REG="$E2E_TMP/registry"
D="$E2E_TMP/data"
STORE="$D/agent/images-store"
REGPY="$ROOT/tests/e2e/registry.py"
mkdir -p "$REG/storage" "$E2E_TMP/oci"

command -v docker-registry >/dev/null || { echo "ok skipped_no_docker_registry # SKIP"; exit 0; }
bash "$ROOT/rootfs/images/build.sh" "$E2E_TMP/img" >/dev/null || fail "building test images"
tar -xzf "$E2E_TMP/img/busybox-oci.tar.gz" -C "$E2E_TMP/oci"

. "$(dirname "$0")/lib_registry.sh"
RP=$(free_port)
TP=$(free_port)
registry_tls kubeling-test-ca # a CA and a serving certificate for 127.0.0.1
/usr/bin/python3 "$REGPY" mint "$REG" >/dev/null # makes token.key and token.crt

registry_config "$REG/config.yml" "$RP" warn "auth:
  token:
    realm: http://127.0.0.1:$TP/token
    service: kubeling-test-registry
    issuer: kubeling-test-issuer
    rootcertbundle: $REG/token.crt"
/usr/bin/python3 "$REGPY" token-server "$TP" "$REG" >"$REG/token.log" 2>&1 &
TPID=$!
docker-registry serve "$REG/config.yml" >"$REG/registry.log" 2>&1 &
RPID=$!
E2E_CLEANUPS+=("kill $TPID $RPID 2>/dev/null; wait $TPID $RPID 2>/dev/null")
registry_wait "$RP" "$REG/registry.log"
read -r INDEX_DIGEST SINGLE_DIGEST < <(/usr/bin/python3 "$REGPY" push "$REG" "https://127.0.0.1:$RP" test/busybox v1 "$E2E_TMP/oci" "$REG/ca.crt") ||
    fail "push"
R="127.0.0.1:$RP/test/busybox"
pull() { "$K" --data-dir "$D" images pull --ca-file "$REG/ca.crt" "$@"; }

pull_index_with_bearer_token() {
    run_cmd "$E2E_TMP/o" pull --creds test:secret "$R:v1"
    expect_rc 0 "pull $R:v1"
    local id
    id=$(sed -n 's/^config \(sha256:.\{12\}\).*/\1/p' "$E2E_TMP/img/busybox.ids")
    expect_grep "$E2E_TMP/o" "^pulled $R:v1 \\($id\\)$"
    "$K" --data-dir "$D" images list >"$E2E_TMP/l"
    expect_grep "$E2E_TMP/l" "^127.0.0.1:$RP/test/busybox +v1 +${id:7:12}"
    [[ $(ls "$STORE/layers" | wc -l) -eq 2 ]] || fail "layers: $(ls "$STORE/layers")"
    grep -q "\"manifestDigest\":\"$INDEX_DIGEST\"" "$STORE/index.json" || fail "manifest digest not the index's"
}

repull_of_a_current_image_is_up_to_date() {
    local before
    before=$(stat -c "%i %.9Y" "$STORE/index.json")
    run_cmd "$E2E_TMP/o" pull --creds test:secret "$R:v1"
    expect_rc 0 "pull $R:v1 again"
    expect_grep "$E2E_TMP/o" "^pulled $R:v1 \\(sha256:[0-9a-f]{12}, up to date\\)$"
    [[ $(stat -c "%i %.9Y" "$STORE/index.json") == "$before" ]] || fail "the index was written again"
}

pull_by_digest_reuses_layers() {
    run_cmd "$E2E_TMP/o" pull --creds test:secret "$R@$SINGLE_DIGEST"
    expect_rc 0 "pull by digest"
    "$K" --data-dir "$D" images list >"$E2E_TMP/l"
    [[ $(ls "$STORE/layers" | wc -l) -eq 2 ]] || fail "layers were not shared"
    run_cmd "$E2E_TMP/o" "$K" --data-dir "$D" images rm "$R@$SINGLE_DIGEST"
    expect_rc 0 "rm by digest"
}

pull_without_credentials_is_refused() {
    run_cmd "$E2E_TMP/o" pull "$R:v1"
    expect_rc 1 "pull without credentials"
    expect_grep "$E2E_TMP/o" 'token: authentication required: bad or missing credentials \(UNAUTHORIZED, HTTP 401\)'
}

missing_image_reports_the_registry_message() {
    run_cmd "$E2E_TMP/o" pull --creds test:secret "$R:nope"
    expect_rc 1 "pull of a missing tag"
    expect_grep "$E2E_TMP/o" 'manifest unknown \(MANIFEST_UNKNOWN, HTTP 404\)'
    sed 's/^/# /' "$E2E_TMP/o"
}

untrusted_certificate_is_refused() {
    run_cmd "$E2E_TMP/o" "$K" --data-dir "$D" images pull --creds test:secret "$R:v1"
    expect_rc 1 "pull trusting only the system CAs"
    expect_grep "$E2E_TMP/o" 'TLS handshake with 127.0.0.1'
}

t pull_index_with_bearer_token pull_index_with_bearer_token
t repull_of_a_current_image_is_up_to_date repull_of_a_current_image_is_up_to_date
t pull_by_digest_reuses_layers pull_by_digest_reuses_layers
t pull_without_credentials_is_refused pull_without_credentials_is_refused
t missing_image_reports_the_registry_message missing_image_reports_the_registry_message
t untrusted_certificate_is_refused untrusted_certificate_is_refused
