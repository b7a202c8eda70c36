#!/usr/bin/env bash
# test_controllers: `kubeling server` runs the controller manager: ReplicaSets keep their pods
# (create with ownerReferences, replace, adopt orphans, scale down the least valuable first),
# Deployments roll out through ReplicaSets. No kubelet runs here: the test makes Node objects so
# the scheduler binds pods, and marks pods Ready itself through the status subresource.
. "$(dirname "$0")/lib.sh"

start_server

# pods SELECTOR: names of the active (not terminating) pods.
pods() {
    kc 1.33 get pods -l "$1" -o go-template='{{range .items}}{{if not .metadata.deletionTimestamp}}{{.metadata.name}}{{"\n"}}{{end}}{{end}}'
}
count_is() { # count_is SELECTOR N
    [[ $(pods "$1" | grep -c .) -eq $2 ]]
}
bound_count_is() { # bound_count_is SELECTOR N: N active pods with a node
    [[ $(kc 1.33 get pods -l "$1" -o go-template='{{range .items}}{{if not .metadata.deletionTimestamp}}{{if .spec.nodeName}}x{{"\n"}}{{end}}{{end}}{{end}}' | grep -c .) -eq $2 ]]
}

# ready POD...: phase Running and condition Ready True, as a kubelet would report.
ready() {
    local p ts
    ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    for p in "$@"; do
        kc 1.33 patch pod "$p" --subresource=status --type=merge -p \
            "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"$ts\"}]}}" >/dev/null ||
            fail "ready $p"
    done
}
# ready_all SELECTOR: every active pod of SELECTOR that is bound gets Ready.
ready_all() {
    local p
    for p in $(pods "$1"); do
        [[ -n $(kc 1.33 get pod "$p" -o jsonpath='{.spec.nodeName}') ]] && ready "$p"
    done
    return 0
}

rs_keeps_pods() {
    fake_node n1
    fake_node n2
    kc 1.27 create -f - >/dev/null <<EOF || fail "create rs"
{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"front"},
 "spec":{"replicas":3,"selector":{"matchLabels":{"app":"front"}},
  "template":{"metadata":{"labels":{"app":"front"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}
EOF
    until_ok 20 count_is app=front 3 || fail "not 3 pods: $(pods app=front | tr '\n' ' ')"
    local p
    p=$(pods app=front | head -1)
    [[ $p == front-* ]] || fail "pod name $p"
    run_cmd "$E2E_TMP/own" kc 1.33 get pod "$p" -o jsonpath='{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller}/{.metadata.ownerReferences[0].blockOwnerDeletion}'
    expect_grep "$E2E_TMP/own" '^ReplicaSet/front/true/true$'
    run_cmd "$E2E_TMP/ev" kc 1.33 get events --field-selector involvedObject.name=front
    expect_grep "$E2E_TMP/ev" "SuccessfulCreate +replicaset/front +Created pod: front-"
    until_ok 20 bound_count_is app=front 3 || fail "not bound"
    ready_all app=front
    until_ok 20 eval '[[ $(kc 1.33 get rs front -o jsonpath="{.status.readyReplicas}/{.status.availableReplicas}/{.status.fullyLabeledReplicas}/{.status.replicas}") == 3/3/3/3 ]]' ||
        fail "status: $(kc 1.33 get rs front -o jsonpath='{.status}')"
    # a deleted pod is replaced
    kc 1.33 delete pod "$p" --wait=false >/dev/null || fail "delete"
    until_ok 20 eval "! pods app=front | grep -qx $p && count_is app=front 3" || fail "not replaced: $(pods app=front | tr '\n' ' ')"
}

rs_adopts_and_releases() {
    kc 1.33 scale rs front --replicas=4 >/dev/null || fail "scale"
    until_ok 20 count_is app=front 4 || fail "not 4"
    # an orphan with matching labels is adopted instead of a new pod being made
    kc 1.33 scale rs front --replicas=5 >/dev/null
    until_ok 20 count_is app=front 5 || fail "not 5"
    # a bound, ready pod of the right labels is adopted (and, worth more than the unready
    # ones, kept while one of those goes)
    kc 1.33 run orphan --image=busybox --labels=app=lonely >/dev/null || fail "run orphan"
    until_ok 20 bound_count_is app=lonely 1 || fail "orphan not bound"
    ready orphan
    kc 1.33 label pod orphan app=front --overwrite >/dev/null || fail "label orphan"
    until_ok 20 eval '[[ $(kc 1.33 get pod orphan -o jsonpath="{.metadata.ownerReferences[0].name}") == front ]]' ||
        fail "orphan not adopted"
    # now 6 for 5 replicas: one goes, and the unscheduled/unready go first
    until_ok 20 count_is app=front 5 || fail "not back to 5: $(pods app=front | tr '\n' ' ')"
    # a pod relabeled out of the selector is released and replaced
    local p
    p=$(pods app=front | head -1)
    kc 1.33 label pod "$p" app=other --overwrite >/dev/null || fail "relabel"
    until_ok 20 eval "[[ -z \$(kc 1.33 get pod $p -o jsonpath='{.metadata.ownerReferences}') ]]" ||
        fail "not released: $(kc 1.33 get pod "$p" -o jsonpath='{.metadata.ownerReferences}')"
    until_ok 20 count_is app=front 5 || fail "not replaced after release"
}

rs_scale_down_ranking() {
    # ready pods are worth more: scaling to 2 keeps two Ready ones
    until_ok 20 bound_count_is app=front 5 || fail "not bound"
    local keep
    keep=$(pods app=front | head -2)
    ready $keep
    kc 1.33 scale rs front --replicas=2 >/dev/null || fail "scale"
    until_ok 20 count_is app=front 2 || fail "not 2"
    local p
    for p in $(pods app=front); do
        [[ $(kc 1.33 get pod "$p" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]] ||
            fail "kept $p, which is not ready"
    done
    run_cmd "$E2E_TMP/ev" kc 1.33 get events --field-selector involvedObject.name=front,reason=SuccessfulDelete
    expect_grep "$E2E_TMP/ev" "Deleted pod: front-"
}

# deploy_counts NAME: "replicas/updated/ready/available" of the deployment's status.
deploy_counts() {
    kc 1.33 get deploy "$1" -o jsonpath='{.status.replicas}/{.status.updatedReplicas}/{.status.readyReplicas}/{.status.availableReplicas}'
}
# ready_rollout NAME SECONDS: marks bound pods ready until `rollout status` would succeed.
ready_until_rolled() {
    local i
    for ((i = 0; i < $2 * 2; i++)); do
        ready_all "app=$1"
        kc 1.33 rollout status "deployment/$1" --timeout=1s >/dev/null 2>&1 && return 0
        sleep 0.4
    done
    return 1
}

deployment_rolls_out() {
    kc 1.27 create deployment web --image=busybox --replicas=3 >/dev/null || fail "create"
    until_ok 20 eval '[[ $(kc 1.33 get rs -l app=web -o name | wc -l) -eq 1 ]]' || fail "no RS"
    local rs hash
    rs=$(kc 1.33 get rs -l app=web -o jsonpath='{.items[0].metadata.name}')
    hash=$(kc 1.33 get rs "$rs" -o jsonpath='{.metadata.labels.pod-template-hash}')
    [[ -n $hash && $rs == "web-$hash" ]] || fail "RS name $rs, hash $hash"
    [[ $(kc 1.33 get rs "$rs" -o jsonpath='{.metadata.ownerReferences[0].kind}/{.metadata.annotations.deployment\.kubernetes\.io/revision}') == Deployment/1 ]] ||
        fail "RS owner/revision"
    until_ok 20 count_is app=web 3 || fail "not 3 pods"
    until_ok 20 bound_count_is app=web 3 || fail "not bound"
    ! kc 1.33 rollout status deployment/web --timeout=1s >/dev/null 2>&1 || fail "rolled out before ready"
    ready_all app=web
    run_cmd "$E2E_TMP/rs" kc 1.27 rollout status deployment/web --timeout=20s
    expect_grep "$E2E_TMP/rs" 'deployment "web" successfully rolled out'
    run_cmd "$E2E_TMP/get" kc 1.33 get deploy web
    expect_grep "$E2E_TMP/get" '^web +3/3 +3 +3 '
    run_cmd "$E2E_TMP/cond" kc 1.33 get deploy web -o jsonpath='{.status.conditions[?(@.type=="Progressing")].reason} {.status.conditions[?(@.type=="Available")].reason}'
    expect_grep "$E2E_TMP/cond" '^NewReplicaSetAvailable MinimumReplicasAvailable$'
}

deployment_scales() {
    kc 1.33 scale deployment web --replicas=5 >/dev/null || fail "scale up"
    until_ok 20 count_is app=web 5 || fail "not 5"
    until_ok 20 bound_count_is app=web 5 || fail "not bound"
    kc 1.27 scale deployment web --replicas=1 >/dev/null || fail "scale down"
    until_ok 20 count_is app=web 1 || fail "not 1"
    # the unready ones went: the survivor is one of the ready ones
    local p
    p=$(pods app=web)
    [[ $(kc 1.33 get pod "$p" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]] ||
        fail "kept an unready pod"
    kc 1.33 scale deployment web --replicas=4 >/dev/null
    until_ok 20 count_is app=web 4 || fail "not 4"
    ready_until_rolled web 20 || fail "not rolled out after scaling"
}

# rolling_update CMD...: runs CMD and checks the rollout keeps within maxSurge/maxUnavailable
# (4 replicas: surge 1, unavailable 1 -> at most 5 pods, at least 3 available).
rolling_update() {
    local gen
    gen=$(kc 1.33 get deploy web -o jsonpath='{.metadata.generation}')
    "$@" >/dev/null || fail "$*"
    until_ok 20 eval "[[ \$(kc 1.33 get deploy web -o jsonpath='{.status.observedGeneration}') -gt $gen ]]" ||
        fail "change not observed"
    local i total avail
    for ((i = 0; i < 100; i++)); do
        total=$(pods app=web | grep -c .)
        avail=$(kc 1.33 get deploy web -o jsonpath='{.status.availableReplicas}')
        ((total <= 5)) || fail "$total pods during the rollout (max 5)"
        ((${avail:-0} >= 3)) || fail "$avail available during the rollout (min 3)"
        kc 1.33 rollout status deployment/web --timeout=1s >/dev/null 2>&1 && break
        ready_all app=web
        sleep 0.3
    done
    ((i < 100)) || fail "rollout did not finish: $(deploy_counts web)"
    until_ok 20 count_is app=web 4 || fail "not 4 after the rollout"
}

deployment_rolling_update() {
    rolling_update kc 1.33 set image deployment/web busybox=busybox:1.36
    [[ $(kc 1.33 get rs -l app=web -o name | wc -l) -eq 2 ]] || fail "not 2 ReplicaSets"
    [[ $(kc 1.33 get deploy web -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}') == 2 ]] ||
        fail "revision not 2"
    rolling_update kc 1.33 rollout restart deployment/web
    run_cmd "$E2E_TMP/hist" kc 1.33 rollout history deployment/web
    expect_grep "$E2E_TMP/hist" '^3 '
    run_cmd "$E2E_TMP/get" kc 1.27 get deploy web
    expect_grep "$E2E_TMP/get" '^web +4/4 +4 +4 '
}

deployment_undo() {
    rolling_update kc 1.33 rollout undo deployment/web --to-revision=1
    local img
    img=$(kc 1.33 get deploy web -o jsonpath='{.spec.template.spec.containers[0].image}')
    [[ $img == busybox ]] || fail "image after undo: $img"
    [[ $(kc 1.33 get deploy web -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}') == 4 ]] ||
        fail "revision after undo not 4"
    # the RS of revision 1 is back in use: three ReplicaSets, not four
    [[ $(kc 1.33 get rs -l app=web -o name | wc -l) -eq 3 ]] || fail "$(kc 1.33 get rs -l app=web)"
}

deployment_paused() {
    kc 1.33 rollout pause deployment/web >/dev/null || fail "pause"
    kc 1.33 set image deployment/web busybox=busybox:1.35 >/dev/null || fail "set image"
    sleep 2
    [[ $(kc 1.33 get rs -l app=web -o name | wc -l) -eq 3 ]] || fail "a paused deployment rolled"
    until_ok 10 eval '[[ $(kc 1.33 get deploy web -o jsonpath="{.status.conditions[?(@.type==\"Progressing\")].reason}") == DeploymentPaused ]]' ||
        fail "no DeploymentPaused"
    kc 1.33 rollout resume deployment/web >/dev/null || fail "resume"
    until_ok 20 eval '[[ $(kc 1.33 get rs -l app=web -o name | wc -l) -eq 4 ]]' || fail "no rollout after resume"
}

deployment_recreate() {
    kc 1.33 create -f - >/dev/null <<EOF || fail "create"
{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"rec"},
 "spec":{"replicas":2,"strategy":{"type":"Recreate"},"selector":{"matchLabels":{"app":"rec"}},
  "template":{"metadata":{"labels":{"app":"rec"}},"spec":{"containers":[{"name":"busybox","image":"busybox"}]}}}}
EOF
    until_ok 20 bound_count_is app=rec 2 || fail "not bound"
    ready_until_rolled rec 20 || fail "first rollout"
    local oldrs
    oldrs=$(kc 1.33 get rs -l app=rec -o jsonpath='{.items[0].metadata.name}')
    kc 1.33 set image deployment/rec busybox=busybox:1.36 >/dev/null || fail "set image"
    until_ok 20 eval "[[ \$(kc 1.33 get rs $oldrs -o jsonpath='{.spec.replicas}') == 0 ]]" || fail "old RS not scaled to 0"
    # no kubelet: the old pods are terminating but stay until the RS status says 0
    until_ok 20 eval '[[ $(kc 1.33 get rs -l app=rec -o name | wc -l) -eq 2 ]]' || fail "no new RS after the old one emptied"
    ready_until_rolled rec 20 || fail "recreate rollout"
}

rc_keeps_pods() {
    kc 1.33 create -f - >/dev/null <<EOF || fail "create rc"
{"apiVersion":"v1","kind":"ReplicationController","metadata":{"name":"legacy"},
 "spec":{"replicas":2,"selector":{"app":"legacy"},
  "template":{"metadata":{"labels":{"app":"legacy"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}
EOF
    until_ok 20 count_is app=legacy 2 || fail "not 2 pods"
    local p
    p=$(pods app=legacy | head -1)
    [[ $(kc 1.33 get pod "$p" -o jsonpath='{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].apiVersion}') == ReplicationController/v1 ]] ||
        fail "owner of $p"
    kc 1.27 scale rc legacy --replicas=3 >/dev/null || fail "scale"
    until_ok 20 count_is app=legacy 3 || fail "not 3 pods"
    until_ok 20 bound_count_is app=legacy 3 || fail "not bound"
    ready_all app=legacy
    until_ok 20 eval '[[ $(kc 1.33 get rc legacy -o jsonpath="{.status.replicas}/{.status.readyReplicas}") == 3/3 ]]' ||
        fail "rc status $(kc 1.33 get rc legacy -o jsonpath='{.status}')"
    run_cmd "$E2E_TMP/ev" kc 1.33 get events --field-selector involvedObject.name=legacy
    expect_grep "$E2E_TMP/ev" "SuccessfulCreate +replicationcontroller/legacy +Created pod: legacy-"
}

rs_replicas() { # rs_replicas RS: spec.replicas
    kc 1.33 get rs "$1" -o jsonpath='{.spec.replicas}'
}

proportional_scaling() {
    kc 1.33 create deployment prop --image=busybox --replicas=4 >/dev/null || fail "create"
    until_ok 20 bound_count_is app=prop 4 || fail "not bound"
    ready_until_rolled prop 20 || fail "first rollout"
    local old new
    old=$(kc 1.33 get rs -l app=prop -o jsonpath='{.items[0].metadata.name}')
    kc 1.33 set image deployment/prop busybox=busybox:1.36 >/dev/null || fail "set image"
    # new pods never get ready: the rollout stops at old 3 + new 2 (surge 1, unavailable 1)
    until_ok 20 eval '[[ $(kc 1.33 get rs -l app=prop -o name | wc -l) -eq 2 ]]' || fail "no new RS"
    new=$(kc 1.33 get rs -l app=prop -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}' | grep -vx "$old")
    until_ok 20 eval "[[ \$(rs_replicas $old)/\$(rs_replicas $new) == 3/2 ]]" ||
        fail "stuck rollout at $(rs_replicas "$old")/$(rs_replicas "$new"), want 3/2"
    # scaling to 8 (max 10 with surge 2) spreads 5 more in proportion: old 3->6, new 2->4
    kc 1.27 scale deployment prop --replicas=8 >/dev/null || fail "scale"
    until_ok 20 eval "[[ \$(rs_replicas $old)/\$(rs_replicas $new) == 6/4 ]]" ||
        fail "after scaling: $(rs_replicas "$old")/$(rs_replicas "$new"), want 6/4"
}

progress_deadline() {
    kc 1.33 create -f - >/dev/null <<EOF || fail "create"
{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"stuck"},
 "spec":{"replicas":1,"progressDeadlineSeconds":2,"selector":{"matchLabels":{"app":"stuck"}},
  "template":{"metadata":{"labels":{"app":"stuck"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}
EOF
    until_ok 20 eval '[[ $(kc 1.33 get deploy stuck -o jsonpath="{.status.conditions[?(@.type==\"Progressing\")].reason}") == ProgressDeadlineExceeded ]]' ||
        fail "no ProgressDeadlineExceeded: $(kc 1.33 get deploy stuck -o jsonpath='{.status.conditions}')"
    run_cmd "$E2E_TMP/stuck" kc 1.27 rollout status deployment/stuck --timeout=10s
    expect_rc 1 "rollout status of a stuck deployment"
    expect_grep "$E2E_TMP/stuck" 'exceeded its progress deadline'
    # progress (the pod gets ready) makes it complete again
    until_ok 20 bound_count_is app=stuck 1 || fail "not bound"
    ready_all app=stuck
    until_ok 20 eval '[[ $(kc 1.33 get deploy stuck -o jsonpath="{.status.conditions[?(@.type==\"Progressing\")].reason}") == NewReplicaSetAvailable ]]' ||
        fail "not complete after the pod got ready"
}

patches_never_conflict() {
    # the controllers write the deployment's status all the time while it scales: a patch
    # without a resourceVersion must still never answer 409 (the apiserver re-applies it)
    local i fails=0
    (for i in 2 6 3 5 4; do kc 1.33 scale deployment web --replicas=$i >/dev/null; sleep 0.2; done) &
    local bg=$!
    for ((i = 0; i < 40; i++)); do
        kc 1.33 patch deployment web --type=merge -p "{\"metadata\":{\"labels\":{\"n\":\"$i\"}}}" \
            >/dev/null 2>"$E2E_TMP/patch.err" || { fails=$((fails + 1)); cat "$E2E_TMP/patch.err" >&2; }
    done
    wait $bg
    ((fails == 0)) || fail "$fails patches failed"
}

scale_patches_never_conflict() {
    # 20 PATCHes of the scale subresource at once (as kubectl 1.33's `scale` sends them): they
    # all read the same version, so all but one lose the write race and must be applied again
    local i codes
    curl_admin -o /dev/null "https://127.0.0.1:$PORT/version" # writes the client key files once
    for ((i = 0; i < 20; i++)); do
        curl_admin -o /dev/null -w '%{http_code}\n' -X PATCH \
            -H 'Content-Type: application/merge-patch+json' --data "{\"spec\":{\"replicas\":$((2 + i % 3))}}" \
            "https://127.0.0.1:$PORT/apis/apps/v1/namespaces/default/deployments/web/scale" \
            >"$E2E_TMP/sc-$i" &
    done
    wait
    codes=$(cat "$E2E_TMP"/sc-* | sort | uniq -c | tr -s ' ')
    [[ $codes == " 20 200" ]] || fail "scale patch answers: $codes"
}

leader_lease() {
    local h1 r1 r2
    h1=$(kc 1.33 get lease -n kube-system kube-controller-manager -o jsonpath='{.spec.holderIdentity}') ||
        fail "no lease"
    [[ -n $h1 ]] || fail "no holder"
    r1=$(kc 1.33 get lease -n kube-system kube-controller-manager -o jsonpath='{.spec.renewTime}')
    until_ok 10 eval "[[ \$(kc 1.33 get lease -n kube-system kube-controller-manager -o jsonpath='{.spec.renewTime}') != $r1 ]]" ||
        fail "not renewed"
    # another holder takes the lease: the controllers stop until it has not been renewed for 15 s
    kc 1.33 patch lease -n kube-system kube-controller-manager --type=merge \
        -p '{"spec":{"holderIdentity":"intruder","renewTime":"2026-01-01T00:00:00.000000Z"}}' >/dev/null ||
        fail "patch lease"
    until_ok 10 grep -q 'stopped leading' "$E2E_TMP/server.log" || fail "did not step down"
    kc 1.33 create -f - >/dev/null <<EOF || fail "create rs"
{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"waiting"},
 "spec":{"replicas":1,"selector":{"matchLabels":{"app":"waiting"}},
  "template":{"metadata":{"labels":{"app":"waiting"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}
EOF
    sleep 2
    count_is app=waiting 0 || fail "a pod was made while not leading"
    until_ok 30 count_is app=waiting 1 || fail "no pod after taking the expired lease back"
    r2=$(kc 1.33 get lease -n kube-system kube-controller-manager -o jsonpath='{.spec.holderIdentity}/{.spec.leaseTransitions}')
    [[ $r2 == "$h1/1" ]] || fail "holder/transitions $r2, want $h1/1"
}

t "a ReplicaSet creates its pods with ownerReferences and replaces deleted ones" rs_keeps_pods
t "a ReplicaSet adopts matching orphans and releases pods that stop matching" rs_adopts_and_releases
t "scaling down removes the least valuable pods first" rs_scale_down_ranking
t "a ReplicationController keeps its pods too" rc_keeps_pods
t "a Deployment makes one ReplicaSet with the template hash; rollout status waits for ready" deployment_rolls_out
t "kubectl scale on a Deployment adds and removes pods (unready first)" deployment_scales
t "set image and rollout restart roll within maxSurge/maxUnavailable" deployment_rolling_update
t "rollout undo goes back to revision 1's ReplicaSet" deployment_undo
t "a paused Deployment does not roll until resumed" deployment_paused
t "Recreate scales the old ReplicaSet to zero first" deployment_recreate
t "scaling in the middle of a rollout is proportional" proportional_scaling
t "progressDeadlineSeconds: ProgressDeadlineExceeded, rollout status fails, progress heals" progress_deadline
t "patches racing the controllers' writes do not conflict" patches_never_conflict
t "concurrent scale-subresource patches are all applied" scale_patches_never_conflict
t "the controllers run only while holding the kube-controller-manager Lease" leader_lease
