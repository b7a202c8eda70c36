#!/usr/bin/env bash
# test_tokens: serviceaccounts/token issues ES256 JWTs (kubectl create token, the Python client);
# a bearer token authenticates as system:serviceaccount:<ns>:<name> until it expires or the
# service account (or the pod it is bound to) is gone; bad requests get upstream's errors.
. "$(dirname "$0")/lib.sh"

start_server

# as_token VERSION TOKEN ARGS...: kubectl with only a bearer token (no client certificate).
as_token() {
    local v=$1 tok=$2
    shift 2
    "$KUBECTL_DIR/kubectl.$v" --kubeconfig /dev/null --server "https://127.0.0.1:$PORT" \
        --certificate-authority "$DATA/server/tls/ca.crt" --token "$tok" "$@" </dev/null
}

create_token_and_use_it() {
    local v tok
    run_cmd "$E2E_TMP/sa" kc 1.33 create serviceaccount robot
    expect_rc 0 "create sa"
    for v in 1.27 1.33; do
        tok=$(kc "$v" create token robot) || fail "kubectl $v create token"
        [[ "$tok" =~ ^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] || fail "not a JWT: $tok"
        run_cmd "$E2E_TMP/get-$v" as_token "$v" "$tok" get serviceaccounts
        expect_rc 0 "get with the token (kubectl $v)"
        expect_grep "$E2E_TMP/get-$v" '^robot '
    done
    # the claims upstream puts in a token (header: ES256 with a key id)
    "$PY" - "$tok" >"$E2E_TMP/claims" <<'PYEOF' || fail "decoding the token"
import base64, json, sys
h, p, s = sys.argv[1].split(".")
dec = lambda x: json.loads(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))
hdr, c = dec(h), dec(p)
assert hdr["alg"] == "ES256" and hdr["kid"], hdr
assert c["sub"] == "system:serviceaccount:default:robot", c
assert c["iss"] == "https://kubernetes.default.svc.cluster.local", c
assert c["aud"] == ["https://kubernetes.default.svc.cluster.local"], c
assert c["kubernetes.io"]["serviceaccount"]["name"] == "robot", c
assert 3590 <= c["exp"] - c["iat"] <= 3610, c
assert len(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))) == 64
print("claims ok")
PYEOF
    expect_grep "$E2E_TMP/claims" 'claims ok'
}

tampered_and_foreign_tokens_refused() {
    local tok bad
    tok=$(kc 1.33 create token robot) || fail "create token"
    # flip one character of the payload: the signature no longer matches
    bad=$(sed 's/\.\(.\)/.X\1/' <<<"$tok")
    run_cmd "$E2E_TMP/bad" as_token 1.33 "$bad" get serviceaccounts
    [[ $RC -ne 0 ]] || fail "a tampered token was accepted"
    expect_grep "$E2E_TMP/bad" 'Unauthorized'
    # alg none, no signature
    bad="$(printf '{"alg":"none"}' | base64 -w0 | tr '+/' '-_' | tr -d =).$(cut -d. -f2 <<<"$tok")."
    run_cmd "$E2E_TMP/none" as_token 1.33 "$bad" get serviceaccounts
    [[ $RC -ne 0 ]] || fail "an unsigned token was accepted"
    # a token for another audience does not authenticate to the API
    tok=$(kc 1.33 create token robot --audience vault) || fail "create token --audience"
    run_cmd "$E2E_TMP/aud" as_token 1.33 "$tok" get serviceaccounts
    [[ $RC -ne 0 ]] || fail "a token for another audience was accepted"
    # garbage in the Authorization header
    run_cmd "$E2E_TMP/junk" as_token 1.27 'a.b.c' get serviceaccounts
    [[ $RC -ne 0 ]] || fail "junk accepted"
}

token_request_errors() {
    run_cmd "$E2E_TMP/short" kc 1.33 create token robot --duration 5m
    [[ $RC -ne 0 ]] || fail "a 5 minute token was issued"
    expect_grep "$E2E_TMP/short" 'spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes'
    run_cmd "$E2E_TMP/nosa" kc 1.27 create token nobody
    [[ $RC -ne 0 ]] || fail "token for a missing service account"
    expect_grep "$E2E_TMP/nosa" 'serviceaccounts "nobody" not found'
    run_cmd "$E2E_TMP/nopod" kc 1.33 create token robot --bound-object-kind Pod --bound-object-name ghost
    [[ $RC -ne 0 ]] || fail "token bound to a missing pod"
    expect_grep "$E2E_TMP/nopod" 'pods "ghost" not found'
}

deleting_the_service_account_revokes() {
    local tok
    kc 1.33 create serviceaccount temp >/dev/null || fail "create sa temp"
    tok=$(kc 1.33 create token temp) || fail "create token"
    run_cmd "$E2E_TMP/ok" as_token 1.33 "$tok" get configmaps -n default
    expect_rc 0 "token works before the delete"
    kc 1.33 delete serviceaccount temp >/dev/null || fail "delete sa"
    run_cmd "$E2E_TMP/gone" as_token 1.33 "$tok" get configmaps -n default
    [[ $RC -ne 0 ]] || fail "token still works after its service account was deleted"
    expect_grep "$E2E_TMP/gone" 'Unauthorized'
    # a new service account of the same name has a new uid: the old token stays dead
    kc 1.33 create serviceaccount temp >/dev/null || fail "recreate sa temp"
    run_cmd "$E2E_TMP/again" as_token 1.33 "$tok" get configmaps -n default
    [[ $RC -ne 0 ]] || fail "old token accepted for a recreated service account"
}

pod_bound_token_dies_with_the_pod() {
    local tok
    kc 1.33 run holder --image=busybox --restart=Never --overrides='{"spec":{"serviceAccountName":"robot"}}' >/dev/null ||
        fail "create pod"
    tok=$(kc 1.33 create token robot --bound-object-kind Pod --bound-object-name holder) ||
        fail "create bound token"
    run_cmd "$E2E_TMP/b1" as_token 1.33 "$tok" get pods
    expect_rc 0 "bound token works while the pod exists"
    kc 1.33 create serviceaccount other >/dev/null || fail "create sa other"
    run_cmd "$E2E_TMP/wrong" kc 1.33 create token other --bound-object-kind Pod --bound-object-name holder
    [[ $RC -ne 0 ]] || fail "bound a token of another service account to the pod"
    expect_grep "$E2E_TMP/wrong" 'cannot bind token for serviceaccount "other" to pod running with different serviceaccount name'
    kc 1.33 delete pod holder --grace-period=0 --force >/dev/null 2>&1 || fail "delete pod"
    run_cmd "$E2E_TMP/b2" as_token 1.33 "$tok" get pods
    [[ $RC -ne 0 ]] || fail "bound token still works after the pod is gone"
}

python_client_token() {
    "$PY" - "$DATA/server/admin.kubeconfig" "$PORT" "$DATA/server/tls/ca.crt" >"$E2E_TMP/py" 2>&1 <<'PYEOF' || { cat "$E2E_TMP/py"; fail "python"; }
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
tr = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=1200))
out = v1.create_namespaced_service_account_token("robot", "default", tr)
assert out.spec.expiration_seconds == 1200, out.spec
assert out.status.expiration_timestamp is not None
c = client.Configuration()
c.host = "https://127.0.0.1:%s" % sys.argv[2]
c.ssl_ca_cert = sys.argv[3]
c.api_key = {"authorization": out.status.token}
c.api_key_prefix = {"authorization": "Bearer"}
names = [s.metadata.name for s in client.CoreV1Api(client.ApiClient(c)).list_namespaced_service_account("default").items]
assert "robot" in names, names
print("python ok")
PYEOF
    expect_grep "$E2E_TMP/py" 'python ok'
}

t "create token, authenticate with it (kubectl 1.27, 1.33)" create_token_and_use_it
t "tampered, unsigned, foreign-audience and junk tokens refused" tampered_and_foreign_tokens_refused
t "TokenRequest errors match upstream" token_request_errors
t "deleting (or recreating) the service account revokes its tokens" deleting_the_service_account_revokes
t "a pod-bound token dies with the pod" pod_bound_token_dies_with_the_pod
t "python client: TokenRequest and bearer authentication" python_client_token
