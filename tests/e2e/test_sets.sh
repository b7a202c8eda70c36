#!/usr/bin/env bash
# test_sets: the StatefulSet and DaemonSet controllers with real kubectl 1.27 and 1.33 and
# ControllerRevisions (rollout history / undo). No kubelet runs here: the test makes Node
# objects, marks pods Ready through pods/status, and sets_fake_kubelet.py stands in for the
# kubelets (terminating pods go at once, pods labelled fake-ready=auto become Ready) and for a
# volume binder (claims get a volumeName). `kubectl get pods -w --output-watch-events` records
# the order in which pods come and go.
. "$(dirname "$0")/lib.sh"

start_server
"$PY" "$(dirname "$0")/sets_fake_kubelet.py" "$DATA/server/admin.kubeconfig" \
    >>"$E2E_TMP/fake_kubelet.log" 2>&1 &
FAKE_PID=$!
E2E_CLEANUPS+=("kill $FAKE_PID 2>/dev/null; wait $FAKE_PID 2>/dev/null")

pods() { # pods SELECTOR: names of the active pods
    kc 1.33 get pods -l "$1" -o go-template='{{range .items}}{{if not .metadata.deletionTimestamp}}{{.metadata.name}}{{"\n"}}{{end}}{{end}}'
}
count_is() { [[ $(pods "$1" | grep -c .) -eq $2 ]]; }
exists() { kc 1.33 get pod "$1" >/dev/null 2>&1; }
bound() { [[ -n $(kc 1.33 get pod "$1" -o jsonpath='{.spec.nodeName}' 2>/dev/null) ]]; }
jp() { kc 1.33 get "$1" "$2" -o jsonpath="$3"; } # jp KIND NAME JSONPATH

ready() { # ready POD: Running and Ready, as a kubelet would report
    local ts
    ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    kc 1.33 patch pod "$1" --subresource=status --type=merge -p \
        "{\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\",\"lastTransitionTime\":\"$ts\"}]}}" >/dev/null ||
        fail "ready $1"
}
bind_and_ready() { # waits for POD to be scheduled, then makes it Ready
    until_ok 20 bound "$1" || fail "$1 not scheduled: $(kc 1.33 get pod "$1" -o jsonpath='{.status.conditions}')"
    ready "$1"
}

watch_pods() { # watch_pods VERSION SELECTOR FILE: records pod events until the test ends
    kc "$1" get pods -l "$2" -w --watch-only --output-watch-events >"$3" 2>&1 &
    WATCHER=$!
    sleep 0.5
}
stop_watch() { kill "$WATCHER" 2>/dev/null; wait "$WATCHER" 2>/dev/null || true; }
first_line() { grep -nE -- "$2" "$1" | head -1 | cut -d: -f1; } # first_line FILE REGEX

sts() { # sts NAME REPLICAS POLICY [EXTRA-SPEC-JSON [TEMPLATE-LABELS-JSON]]
    local labels=${5:-}
    [[ -n $labels ]] || labels="{\"app\":\"$1\"}"
    kc 1.27 create -f - >/dev/null <<EOF || fail "create sts $1"
{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"$1"},
 "spec":{"replicas":$2,"serviceName":"$1-svc","podManagementPolicy":"$3",
  "selector":{"matchLabels":{"app":"$1"}},
  "template":{"metadata":{"labels":$labels},
   "spec":{"containers":[{"name":"c","image":"busybox:1"}]}}
  ${4:+,$4}}}
EOF
}

sts_ordered() {
    fake_node n1
    fake_node n2
    watch_pods 1.27 app=web "$E2E_TMP/web.events"
    sts web 3 OrderedReady \
        '"volumeClaimTemplates":[{"metadata":{"name":"www"},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}}]'
    until_ok 20 exists web-0 || fail "no web-0"
    # upstream's defaults (SetDefaults_StatefulSet, and the claim templates' PVC defaults)
    [[ $(jp sts web '{.spec.podManagementPolicy}/{.spec.updateStrategy.type}/{.spec.updateStrategy.rollingUpdate.partition}/{.spec.revisionHistoryLimit}/{.spec.persistentVolumeClaimRetentionPolicy.whenDeleted}/{.spec.persistentVolumeClaimRetentionPolicy.whenScaled}/{.spec.volumeClaimTemplates[0].spec.volumeMode}/{.spec.volumeClaimTemplates[0].status.phase}') == OrderedReady/RollingUpdate/0/10/Retain/Retain/Filesystem/Pending ]] ||
        fail "defaults: $(jp sts web '{.spec}')"
    run_cmd "$E2E_TMP/id" jp pod web-0 '{.metadata.labels.statefulset\.kubernetes\.io/pod-name} {.metadata.labels.apps\.kubernetes\.io/pod-index} {.spec.hostname} {.spec.subdomain} {.spec.volumes[0].name}={.spec.volumes[0].persistentVolumeClaim.claimName} {.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller} {.metadata.labels.controller-revision-hash}'
    expect_grep "$E2E_TMP/id" '^web-0 0 web-0 web-svc www=www-web-0 StatefulSet/web/true web-[a-z0-9]+$'
    sleep 1
    exists web-1 && fail "web-1 was created before web-0 was Ready"
    bind_and_ready web-0
    until_ok 20 exists web-1 || fail "no web-1 after web-0 got Ready"
    sleep 1
    exists web-2 && fail "web-2 was created before web-1 was Ready"
    bind_and_ready web-1
    until_ok 20 exists web-2 || fail "no web-2"
    bind_and_ready web-2
    run_cmd "$E2E_TMP/rs" kc 1.27 rollout status sts web --timeout=20s
    expect_rc 0 "rollout status 1.27"
    expect_grep "$E2E_TMP/rs" 'partitioned roll out complete: 3 new pods have been updated'
    run_cmd "$E2E_TMP/rs" kc 1.33 rollout status sts web --timeout=20s
    expect_rc 0 "rollout status 1.33"
    run_cmd "$E2E_TMP/get" kc 1.33 get sts web
    expect_grep "$E2E_TMP/get" '^web +3/3 +'
    [[ $(grep -E '^ADDED' "$E2E_TMP/web.events" | awk '{print $2}' | tr '\n' ' ') == "web-0 web-1 web-2 " ]] ||
        { cat "$E2E_TMP/web.events"; fail "pods were not added in order"; }
    run_cmd "$E2E_TMP/pvc" kc 1.33 get pvc -l app=web -o name
    expect_lines "$E2E_TMP/pvc" 3
    expect_grep "$E2E_TMP/pvc" 'persistentvolumeclaim/www-web-2'
    run_cmd "$E2E_TMP/ev" kc 1.33 get events --field-selector involvedObject.name=web
    expect_grep "$E2E_TMP/ev" 'SuccessfulCreate +statefulset/web +create Pod web-1 in StatefulSet web successful'
    expect_grep "$E2E_TMP/ev" 'SuccessfulCreate +statefulset/web +create Claim www-web-0 Pod web-0 in StatefulSet web success'
    # scale-down goes from the highest ordinal, one pod at a time
    run_cmd "$E2E_TMP/sc" kc 1.27 scale sts web --replicas=1
    expect_rc 0 "scale"
    until_ok 20 count_is app=web 1 || fail "not scaled down: $(pods app=web | tr '\n' ' ')"
    until_ok 10 grep -qE "^DELETED +web-1" "$E2E_TMP/web.events" || { cat "$E2E_TMP/web.events"; fail "web-1 not deleted"; }
    stop_watch
    local d2 t1
    d2=$(first_line "$E2E_TMP/web.events" '^DELETED +web-2')
    t1=$(first_line "$E2E_TMP/web.events" 'web-1 .*Terminating|^DELETED +web-1')
    [[ -n $d2 && -n $t1 && $d2 -lt $t1 ]] || { cat "$E2E_TMP/web.events"; fail "web-1 went before web-2 was gone"; }
    [[ $(pods app=web) == web-0 ]] || fail "left: $(pods app=web)"
    kc 1.33 get pvc www-web-2 >/dev/null || fail "claims are retained by default"
    run_cmd "$E2E_TMP/ev" kc 1.33 get events --field-selector involvedObject.name=web
    expect_grep "$E2E_TMP/ev" 'SuccessfulDelete +statefulset/web +delete Pod web-2 in StatefulSet web successful'
    until_ok 10 eval '[[ $(jp sts web "{.status.replicas}/{.status.readyReplicas}/{.status.currentReplicas}/{.status.updatedReplicas}/{.status.observedGeneration}") == 1/1/1/1/2 ]]' ||
        fail "status: $(jp sts web '{.status}')"
}

sts_parallel() {
    sts par 3 Parallel '"ordinals":{"start":5}'
    until_ok 20 count_is app=par 3 || fail "Parallel did not create all pods at once: $(pods app=par | tr '\n' ' ')"
    [[ $(pods app=par | sort | tr '\n' ' ') == "par-5 par-6 par-7 " ]] || fail "names: $(pods app=par)"
    [[ $(jp pod par-7 '{.metadata.labels.apps\.kubernetes\.io/pod-index}') == 7 ]] || fail "pod-index"
    kc 1.33 label pod par-6 apps.kubernetes.io/pod-index=9 --overwrite >/dev/null
    until_ok 10 eval '[[ $(jp pod par-6 "{.metadata.labels.apps\.kubernetes\.io/pod-index}") == 6 ]]' ||
        fail "identity label not repaired"
    run_cmd "$E2E_TMP/sc" kc 1.33 scale sts par --replicas=0
    until_ok 20 count_is app=par 0 || fail "Parallel scale-down: $(pods app=par | tr '\n' ' ')"
}

revision_of() { jp pod "$1" '{.metadata.labels.controller-revision-hash}'; }

sts_partition_and_undo() {
    sts db 3 OrderedReady '"minReadySeconds":0' '{"app":"db","fake-ready":"auto"}'
    run_cmd "$E2E_TMP/rs" kc 1.33 rollout status sts db --timeout=30s
    expect_rc 0 "first rollout"
    local r1 r2
    r1=$(jp sts db '{.status.updateRevision}')
    [[ $(revision_of db-0) == "$r1" && $r1 == db-* ]] || fail "revision $r1"
    kc 1.33 patch sts db --type=merge -p '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}' >/dev/null
    kc 1.33 set image sts/db c=busybox:2 >/dev/null || fail "set image"
    run_cmd "$E2E_TMP/rs" kc 1.27 rollout status sts db --timeout=30s
    expect_rc 0 "partitioned rollout"
    expect_grep "$E2E_TMP/rs" 'partitioned roll out complete: 1 new pods have been updated'
    r2=$(jp sts db '{.status.updateRevision}')
    [[ $r2 != "$r1" && $(revision_of db-2) == "$r2" && $(revision_of db-1) == "$r1" &&
        $(revision_of db-0) == "$r1" ]] || fail "partition 2: $(kc 1.33 get pods -l app=db -L controller-revision-hash)"
    [[ $(jp pod db-1 '{.spec.containers[0].image}') == busybox:1 ]] || fail "db-1 was updated"
    kc 1.33 patch sts db --type=merge -p '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}' >/dev/null
    until_ok 30 eval '[[ $(jp sts db "{.status.currentRevision}/{.status.updatedReplicas}/{.status.readyReplicas}") == $r2/3/3 ]]' ||
        fail "rollout to $r2: $(jp sts db '{.status}')"
    [[ $(revision_of db-0) == "$r2" ]] || fail "db-0 not updated"
    run_cmd "$E2E_TMP/h" kc 1.33 rollout history sts db
    expect_grep "$E2E_TMP/h" '^1 +<none>'
    expect_grep "$E2E_TMP/h" '^2 +<none>'
    run_cmd "$E2E_TMP/cr" kc 1.27 get controllerrevisions
    expect_grep "$E2E_TMP/cr" '^NAME +CONTROLLER +REVISION +AGE'
    expect_grep "$E2E_TMP/cr" "^$r2 +statefulset.apps/db +2 "
    run_cmd "$E2E_TMP/u" kc 1.27 rollout undo sts db
    expect_rc 0 "undo"
    expect_grep "$E2E_TMP/u" 'statefulset.apps/db rolled back'
    until_ok 30 eval '[[ $(jp sts db "{.status.currentRevision}/{.status.updatedReplicas}/{.status.readyReplicas}") == $r1/3/3 ]]' ||
        fail "undo to $r1: $(jp sts db '{.status}')"
    [[ $(jp pod db-0 '{.spec.containers[0].image}') == busybox:1 ]] || fail "db-0 image after undo"
    run_cmd "$E2E_TMP/h" kc 1.33 rollout history sts db
    expect_grep "$E2E_TMP/h" '^3 +<none>' # revision 1 came back as 3
    grep -qE '^1 ' "$E2E_TMP/h" && fail "revision 1 is still listed"
    run_cmd "$E2E_TMP/u" kc 1.33 rollout undo sts db --to-revision=2
    expect_rc 0 "undo --to-revision=2"
    until_ok 30 eval '[[ $(jp sts db "{.status.currentRevision}/{.status.updatedReplicas}") == $r2/3 ]]' ||
        fail "undo to revision 2: $(jp sts db '{.status}')"
}

sts_on_delete_and_history_limit() {
    sts od 2 Parallel '"updateStrategy":{"type":"OnDelete"}' '{"app":"od","fake-ready":"auto"}'
    [[ -z $(jp sts od '{.spec.updateStrategy.rollingUpdate}') ]] || fail "OnDelete got rollingUpdate"
    until_ok 20 count_is app=od 2 || fail "no pods"
    local r1
    until_ok 10 eval '[[ -n $(jp sts od "{.status.updateRevision}") ]]'
    r1=$(jp sts od '{.status.updateRevision}')
    kc 1.33 set image sts/od c=busybox:2 >/dev/null
    sleep 2
    [[ $(revision_of od-0) == "$r1" && $(revision_of od-1) == "$r1" ]] || fail "OnDelete replaced pods"
    kc 1.33 delete pod od-1 --wait=false >/dev/null
    until_ok 20 eval '[[ $(jp pod od-1 "{.spec.containers[0].image}") == busybox:2 ]]' ||
        fail "od-1 not recreated at the update revision"
    [[ $(jp pod od-0 '{.spec.containers[0].image}') == busybox:1 ]] || fail "od-0 replaced"
    until_ok 10 eval '[[ $(jp sts od "{.status.currentReplicas}/{.status.updatedReplicas}") == 1/1 ]]' ||
        fail "OnDelete status: $(jp sts od '{.status}')"
    # revisionHistoryLimit 1: of the revisions no pod runs, only the newest stays
    sts hl 1 OrderedReady '"revisionHistoryLimit":1' '{"app":"hl","fake-ready":"auto"}'
    local i
    for i in 2 3 4; do
        kc 1.33 rollout status sts hl --timeout=20s >/dev/null || fail "rollout before $i"
        kc 1.33 set image sts/hl c=busybox:$i >/dev/null
    done
    kc 1.33 rollout status sts hl --timeout=20s >/dev/null || fail "last rollout"
    until_ok 10 eval '[[ $(kc 1.33 get controllerrevisions -l app=hl -o name | wc -l) -eq 2 ]]' ||
        fail "history: $(kc 1.33 get controllerrevisions -l app=hl)"
    run_cmd "$E2E_TMP/h" kc 1.33 rollout history sts hl
    expect_grep "$E2E_TMP/h" '^3 +<none>'
    expect_grep "$E2E_TMP/h" '^4 +<none>'
}

sts_claim_retention() {
    sts keep 2 Parallel '"persistentVolumeClaimRetentionPolicy":{"whenDeleted":"Delete","whenScaled":"Delete"},"volumeClaimTemplates":[{"metadata":{"name":"data"},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}}]' '{"app":"keep","fake-ready":"auto"}'
    until_ok 20 count_is app=keep 2 || fail "no pods"
    until_ok 10 eval '[[ $(jp pvc data-keep-0 "{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}") == StatefulSet/keep ]]' ||
        fail "whenDeleted=Delete: $(jp pvc data-keep-0 '{.metadata.ownerReferences}')"
    kc 1.33 scale sts keep --replicas=1 >/dev/null
    # whenScaled=Delete: the claim of the removed ordinal is owned by its pod, so the garbage
    # collector deletes it once the pod is gone
    until_ok 30 eval '! kc 1.33 get pvc data-keep-1 >/dev/null 2>&1' ||
        fail "whenScaled=Delete: data-keep-1 still there: $(jp pvc data-keep-1 '{.metadata.ownerReferences}')"
    [[ $(jp pvc data-keep-0 '{.metadata.ownerReferences[*].kind}') == StatefulSet ]] || fail "data-keep-0"
    kc 1.33 patch sts keep --type=merge -p '{"spec":{"persistentVolumeClaimRetentionPolicy":{"whenDeleted":"Retain"}}}' >/dev/null
    until_ok 10 eval '[[ -z $(jp pvc data-keep-0 "{.metadata.ownerReferences}") ]]' ||
        fail "Retain keeps a reference: $(jp pvc data-keep-0 '{.metadata.ownerReferences}')"
}

sts_adopts_and_releases() {
    kc 1.33 run ad-0 --image=busybox:1 --labels=app=ad,fake-ready=auto >/dev/null || fail "orphan"
    kc 1.33 run ad-x --image=busybox:1 --labels=app=ad >/dev/null || fail "orphan not named like the set's"
    sts ad 2 Parallel '' '{"app":"ad","fake-ready":"auto"}'
    until_ok 20 eval '[[ $(jp pod ad-0 "{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].controller}") == StatefulSet/ad/true ]]' ||
        fail "ad-0 not adopted: $(jp pod ad-0 '{.metadata.ownerReferences}')"
    until_ok 20 exists ad-1 || fail "no ad-1"
    [[ -z $(jp pod ad-x '{.metadata.ownerReferences}') ]] || fail "ad-x adopted"
    # a pod relabeled out of the selector is released (its name stays taken, as upstream)
    local uid
    uid=$(jp pod ad-1 '{.metadata.uid}')
    kc 1.33 label pod ad-1 app=other --overwrite >/dev/null
    until_ok 20 eval '[[ -z $(jp pod ad-1 "{.metadata.ownerReferences}") ]]' || fail "ad-1 not released"
    kc 1.33 get pod ad-1 -o jsonpath='{.metadata.uid}' | grep -q "$uid" || fail "ad-1 replaced instead of released"
}

# ---- DaemonSets ----------------------------------------------------------------------------------

ds() { # ds NAME [EXTRA-POD-SPEC-JSON [EXTRA-SPEC-JSON]]
    kc 1.33 create -f - >/dev/null <<EOF || fail "create ds $1"
{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"$1"},
 "spec":{"selector":{"matchLabels":{"app":"$1"}}${3:+,$3},
  "template":{"metadata":{"labels":{"app":"$1","fake-ready":"auto"}},
   "spec":{"containers":[{"name":"c","image":"busybox:1"}]${2:+,$2}}}}}
EOF
}
ds_nodes() { # ds_nodes NAME: the nodes of its active pods, sorted
    kc 1.33 get pods -l "app=$1" -o go-template='{{range .items}}{{if not .metadata.deletionTimestamp}}{{.spec.nodeName}}{{"\n"}}{{end}}{{end}}' | sort | tr '\n' ' '
}
ds_on() { [[ $(ds_nodes "$1") == "$2" ]]; }

ds_covers_nodes() {
    fake_node t1 64 '{"kubernetes.io/hostname":"t1"}' '[{"key":"dedicated","value":"db","effect":"NoSchedule"}]'
    ds agent
    # n1, n2 from sts_ordered; t1 is tainted
    until_ok 20 ds_on agent "n1 n2 " || fail "agent on: $(ds_nodes agent)"
    [[ $(jp ds agent '{.spec.updateStrategy.type}/{.spec.updateStrategy.rollingUpdate.maxUnavailable}/{.spec.updateStrategy.rollingUpdate.maxSurge}/{.spec.revisionHistoryLimit}') == RollingUpdate/1/0/10 ]] ||
        fail "defaults: $(jp ds agent '{.spec}')"
    local p
    p=$(pods app=agent | head -1)
    run_cmd "$E2E_TMP/aff" jp pod "$p" '{.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key} {.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values[0]} {.spec.nodeName} {.metadata.ownerReferences[0].kind}'
    expect_grep "$E2E_TMP/aff" '^metadata.name (n[12]) \1 DaemonSet$'
    run_cmd "$E2E_TMP/tol" jp pod "$p" '{range .spec.tolerations[*]}{.key}:{.effect}{"\n"}{end}'
    expect_lines "$E2E_TMP/tol" 6
    expect_grep "$E2E_TMP/tol" '^node.kubernetes.io/not-ready:NoExecute$'
    expect_grep "$E2E_TMP/tol" '^node.kubernetes.io/unschedulable:NoSchedule$'
    grep -q network-unavailable "$E2E_TMP/tol" && fail "network-unavailable without hostNetwork"
    run_cmd "$E2E_TMP/rs" kc 1.27 rollout status ds agent --timeout=20s
    expect_rc 0 "rollout status"
    expect_grep "$E2E_TMP/rs" 'daemon set "agent" successfully rolled out'
    run_cmd "$E2E_TMP/get" kc 1.33 get ds agent
    expect_grep "$E2E_TMP/get" '^agent +2 +2 +2 +2 +2 +<none> +'
    # a node added later gets a pod
    fake_node n3 64 '{"disk":"ssd"}'
    until_ok 20 ds_on agent "n1 n2 n3 " || fail "agent on n3: $(ds_nodes agent)"
    # a toleration lets it onto the tainted node
    ds tolerant '"tolerations":[{"key":"dedicated","operator":"Equal","value":"db","effect":"NoSchedule"}],"hostNetwork":true'
    until_ok 20 ds_on tolerant "n1 n2 n3 t1 " || fail "tolerant on: $(ds_nodes tolerant)"
    p=$(pods app=tolerant | head -1)
    jp pod "$p" '{.spec.tolerations[*].key}' | grep -q network-unavailable || fail "hostNetwork toleration"
    # nodeSelector
    ds ssd '"nodeSelector":{"disk":"ssd"}'
    until_ok 20 ds_on ssd "n3 " || fail "ssd on: $(ds_nodes ssd)"
    kc 1.33 label node n2 disk=ssd >/dev/null
    until_ok 20 ds_on ssd "n2 n3 " || fail "ssd after labeling n2: $(ds_nodes ssd)"
    kc 1.33 label node n3 disk- >/dev/null
    until_ok 20 ds_on ssd "n2 " || fail "ssd after unlabeling n3: $(ds_nodes ssd)"
    run_cmd "$E2E_TMP/get" kc 1.27 get ds ssd
    expect_grep "$E2E_TMP/get" '^ssd +1 +1 +1 +1 +1 +disk=ssd +'
    # a NoExecute taint evicts daemon pods that do not tolerate it; NoSchedule does not
    kc 1.33 taint node n3 maint=yes:NoSchedule >/dev/null
    sleep 1
    ds_on agent "n1 n2 n3 " || fail "NoSchedule evicted: $(ds_nodes agent)"
    kc 1.33 taint node n3 gone=yes:NoExecute >/dev/null
    until_ok 20 ds_on agent "n1 n2 " || fail "NoExecute kept: $(ds_nodes agent)"
}

ds_rolling_update() {
    ds roll
    until_ok 20 ds_on roll "n1 n2 " || fail "roll on: $(ds_nodes roll)"
    kc 1.33 rollout status ds roll --timeout=20s >/dev/null || fail "first rollout"
    watch_pods 1.33 app=roll "$E2E_TMP/roll.events"
    kc 1.33 set image ds/roll c=busybox:2 >/dev/null || fail "set image"
    run_cmd "$E2E_TMP/rs" kc 1.33 rollout status ds roll --timeout=30s
    expect_rc 0 "rollout status"
    [[ $(kc 1.33 get pods -l app=roll -o jsonpath='{.items[*].spec.containers[0].image}') == "busybox:2 busybox:2" ]] ||
        fail "images: $(kc 1.33 get pods -l app=roll -o jsonpath='{.items[*].spec.containers[0].image}')"
    stop_watch
    [[ $(jp ds roll '{.metadata.annotations.deprecated\.daemonset\.template\.generation}') == 2 ]] ||
        fail "template generation: $(jp ds roll '{.metadata.annotations}')"
    [[ $(kc 1.33 get pods -l app=roll -o jsonpath='{.items[*].metadata.labels.pod-template-generation}') == "2 2" ]] ||
        fail "pod-template-generation: $(kc 1.33 get pods -l app=roll --show-labels)"
    # maxUnavailable 1: the second old pod goes only after the first replacement was added
    local d2 a1
    a1=$(first_line "$E2E_TMP/roll.events" '^ADDED')
    d2=$(grep -E 'Terminating|^DELETED' "$E2E_TMP/roll.events" | awk '!seen[$2]++ {print $2}' | sed -n 2p)
    [[ -n $a1 ]] || { cat "$E2E_TMP/roll.events"; fail "no pod added"; }
    [[ -n $d2 ]] && { [[ $(first_line "$E2E_TMP/roll.events" "$d2 .*Terminating|DELETED +$d2") -gt $a1 ]] ||
        { cat "$E2E_TMP/roll.events"; fail "both old pods went at once"; }; }
    run_cmd "$E2E_TMP/h" kc 1.27 rollout history ds roll
    expect_grep "$E2E_TMP/h" '^1 +<none>'
    expect_grep "$E2E_TMP/h" '^2 +<none>'
    run_cmd "$E2E_TMP/u" kc 1.27 rollout undo ds roll
    expect_grep "$E2E_TMP/u" 'daemonset.apps/roll rolled back'
    until_ok 30 eval '[[ $(kc 1.33 get pods -l app=roll -o jsonpath="{.items[*].spec.containers[0].image}") == "busybox:1 busybox:1" ]]' ||
        fail "undo: $(kc 1.33 get pods -l app=roll -o jsonpath='{.items[*].spec.containers[0].image}')"
    kc 1.33 rollout status ds roll --timeout=20s >/dev/null || fail "rollout status after undo"
    until_ok 10 eval '[[ $(jp ds roll "{.status.desiredNumberScheduled}/{.status.currentNumberScheduled}/{.status.numberReady}/{.status.updatedNumberScheduled}/{.status.numberAvailable}/{.status.numberMisscheduled}") == 2/2/2/2/2/0 ]]' ||
        fail "status: $(jp ds roll '{.status}')"
}

ds_surge() {
    ds surge '' '"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1,"maxUnavailable":0}}'
    until_ok 20 ds_on surge "n1 n2 " || fail "surge on: $(ds_nodes surge)"
    kc 1.33 rollout status ds surge --timeout=20s >/dev/null || fail "first rollout"
    watch_pods 1.27 app=surge "$E2E_TMP/surge.events"
    kc 1.33 set image ds/surge c=busybox:2 >/dev/null || fail "set image"
    kc 1.33 rollout status ds surge --timeout=30s >/dev/null || fail "rollout"
    stop_watch
    # maxUnavailable 0: every old pod goes only after a new one was added
    local a d
    a=$(first_line "$E2E_TMP/surge.events" '^ADDED')
    d=$(first_line "$E2E_TMP/surge.events" 'Terminating|^DELETED')
    [[ -n $a && -n $d && $a -lt $d ]] || { cat "$E2E_TMP/surge.events"; fail "an old pod went before a new one came"; }
    ds_on surge "n1 n2 " || fail "surge after: $(ds_nodes surge)"
}

ds_failed_pod() {
    ds crash
    until_ok 20 ds_on crash "n1 n2 " || fail "crash on: $(ds_nodes crash)"
    local p node
    p=$(kc 1.33 get pods -l app=crash -o jsonpath='{.items[0].metadata.name}')
    node=$(jp pod "$p" '{.spec.nodeName}')
    kc 1.33 patch pod "$p" --subresource=status --type=merge -p '{"status":{"phase":"Failed"}}' >/dev/null
    until_ok 20 eval '! exists "$p"' || fail "failed pod $p not deleted"
    until_ok 20 ds_on crash "n1 n2 " || fail "not replaced: $(ds_nodes crash)"
    run_cmd "$E2E_TMP/ev" kc 1.33 get events --field-selector involvedObject.name=crash
    expect_grep "$E2E_TMP/ev" "FailedDaemonPod +daemonset/crash +Found failed daemon pod default/$p on node $node, will try to kill it"
}

t "a StatefulSet creates web-0..2 in order, each after the previous is Ready; scale-down goes in reverse" sts_ordered
t "Parallel creates all pods at once; .spec.ordinals.start names them" sts_parallel
t "RollingUpdate with a partition updates only ordinals >= partition; rollout history and undo" sts_partition_and_undo
t "OnDelete replaces pods only when deleted; revisionHistoryLimit prunes dead revisions" sts_on_delete_and_history_limit
t "persistentVolumeClaimRetentionPolicy: Delete sets claim ownerReferences (scaled-down claims are collected), Retain drops them" sts_claim_retention
t "a StatefulSet adopts orphans named like its pods and releases pods it no longer selects" sts_adopts_and_releases
t "a DaemonSet covers every eligible node (taints, tolerations, nodeSelector, new nodes)" ds_covers_nodes
t "a DaemonSet rolls within maxUnavailable; rollout history and undo" ds_rolling_update
t "a DaemonSet with maxSurge adds the new pod before the old one goes" ds_surge
t "a failed daemon pod is deleted (with a FailedDaemonPod event) and replaced" ds_failed_pod
