#!/usr/bin/env bash
# test_crd: CustomResourceDefinitions and their custom resources, driven by real kubectl 1.27
# and 1.33 and the Python client: establishing, discovery, CRUD, apply, scale, status, printer
# columns, explain, schema validation with upstream's messages, watch, CRD deletion, restart.
. "$(dirname "$0")/lib.sh"

start_server

kcc() { # kcc VERSION ARGS...: kubectl with a discovery cache of this test's own
    local v=$1
    shift
    kc "$v" --cache-dir "$E2E_TMP/cache-$v" "$@"
}

cat >"$E2E_TMP/crd.yaml" <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames: [ct]
    categories: [all]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.labelSelector
    additionalPrinterColumns:
    - {name: Spec, type: string, jsonPath: .spec.cronSpec}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
    - {name: Image, type: string, priority: 1, jsonPath: .spec.image}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            description: The desired state of the cron tab.
            required: [cronSpec]
            properties:
              cronSpec:
                type: string
                pattern: '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'
              image: {type: string, default: busybox}
              replicas: {type: integer, minimum: 0, maximum: 10}
              mode: {type: string, enum: [fast, slow]}
              extra:
                type: object
                x-kubernetes-preserve-unknown-fields: true
          status:
            type: object
            properties:
              replicas: {type: integer}
              labelSelector: {type: string}
YAML

cr() { # cr NAME REPLICAS [EXTRA-SPEC-LINE]
    cat <<YAML
apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: $1
spec:
  cronSpec: "*/5 * * * *"
  replicas: $2
${3:-}
YAML
}

crd_is_established() {
    run_cmd "$E2E_TMP/c" kcc 1.33 apply -f "$E2E_TMP/crd.yaml"
    expect_rc 0 "apply crd"
    run_cmd "$E2E_TMP/w" kcc 1.33 wait --for condition=established --timeout=10s crd/crontabs.stable.example.com
    expect_rc 0 "wait established"
    run_cmd "$E2E_TMP/s" kcc 1.27 get crd crontabs.stable.example.com -o jsonpath='{range .status.conditions[*]}{.type}={.status} {end}{.status.acceptedNames.listKind}'
    expect_grep "$E2E_TMP/s" '^NamesAccepted=True Established=True CronTabList$'
    run_cmd "$E2E_TMP/t" kcc 1.33 get crd
    expect_grep "$E2E_TMP/t" '^NAME +CREATED AT$'
    expect_grep "$E2E_TMP/t" '^crontabs.stable.example.com +20[0-9-]+T[0-9:]+Z$'
}

invalid_crd_is_refused() {
    sed 's/name: crontabs.stable.example.com/name: wrong.stable.example.com/' "$E2E_TMP/crd.yaml" >"$E2E_TMP/bad.yaml"
    run_cmd "$E2E_TMP/b" kcc 1.33 create -f "$E2E_TMP/bad.yaml"
    expect_rc 1 "bad name"
    expect_grep "$E2E_TMP/b" 'metadata.name: Invalid value: "wrong.stable.example.com": must be spec.names.plural\+"."\+spec.group'
    sed -e 's/name: crontabs.stable.example.com/name: crontabs2.stable.example.com/' \
        -e 's/plural: crontabs/plural: crontabs2/' -e 's/singular: crontab/singular: crontab2/' \
        -e 's/shortNames: \[ct\]/shortNames: [ct2]/' "$E2E_TMP/crd.yaml" >"$E2E_TMP/conflict.yaml"
    run_cmd "$E2E_TMP/k" kcc 1.33 create -f "$E2E_TMP/conflict.yaml"
    expect_rc 0 "conflicting kind is stored"
    run_cmd "$E2E_TMP/k" kcc 1.33 get crd crontabs2.stable.example.com -o jsonpath='{range .status.conditions[*]}{.type}={.status}/{.reason} {end}'
    expect_grep "$E2E_TMP/k" '^NamesAccepted=False/KindConflict Established=False/NotAccepted $'
    kcc 1.33 delete crd crontabs2.stable.example.com >/dev/null
    # once the holder of the names goes, the refused CRD is accepted (upstream's naming controller)
    sed -e 's/name: crontabs.stable.example.com/name: others.stable.example.com/' \
        -e 's/plural: crontabs/plural: others/' -e 's/singular: crontab/singular: other/' \
        -e 's/shortNames: \[ct\]/shortNames: [ot]/' -e 's/kind: CronTab/kind: Other/' "$E2E_TMP/crd.yaml" >"$E2E_TMP/o1.yaml"
    sed -e 's/name: others.stable.example.com/name: others2.stable.example.com/' \
        -e 's/plural: others/plural: others2/' -e 's/singular: other$/singular: other2/' \
        -e 's/shortNames: \[ot\]/shortNames: [ot2]/' "$E2E_TMP/o1.yaml" >"$E2E_TMP/o2.yaml"
    kcc 1.33 create -f "$E2E_TMP/o1.yaml" >/dev/null
    kcc 1.33 create -f "$E2E_TMP/o2.yaml" >/dev/null
    run_cmd "$E2E_TMP/o" kcc 1.33 get crd others2.stable.example.com -o jsonpath='{.status.conditions[0].reason}'
    expect_grep "$E2E_TMP/o" '^KindConflict$'
    kcc 1.33 delete crd others.stable.example.com >/dev/null
    run_cmd "$E2E_TMP/o" kcc 1.33 wait --for condition=established --timeout=10s crd/others2.stable.example.com
    expect_rc 0 "accepted after the conflict went"
    kcc 1.33 delete crd others2.stable.example.com >/dev/null
}

discovery_shows_the_resource() {
    local v
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/ar-$v" kcc "$v" api-resources --api-group=stable.example.com
        expect_rc 0 "api-resources $v"
        expect_grep "$E2E_TMP/ar-$v" '^crontabs +ct +stable.example.com/v1 +true +CronTab'
    done
    run_cmd "$E2E_TMP/agg" curl_admin \
        -H 'Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList' \
        "https://127.0.0.1:$PORT/apis"
    expect_grep "$E2E_TMP/agg" '"resource":"crontabs","responseKind":\{"group":"stable.example.com","version":"v1","kind":"CronTab"\},"scope":"Namespaced","singularResource":"crontab"'
    expect_grep "$E2E_TMP/agg" '"categories":\["all"\],"subresources":\[\{"subresource":"scale"'
}

crud_and_columns() {
    local v
    for v in 1.27 1.33; do
        cr "c-${v/./-}" 2 >"$E2E_TMP/cr.yaml"
        run_cmd "$E2E_TMP/a" kcc "$v" apply -f "$E2E_TMP/cr.yaml"
        expect_rc 0 "apply $v"
        expect_grep "$E2E_TMP/a" "crontab.stable.example.com/c-${v/./-} created"
    done
    run_cmd "$E2E_TMP/g" kcc 1.33 get ct
    expect_grep "$E2E_TMP/g" '^NAME +SPEC +REPLICAS +AGE$'
    expect_grep "$E2E_TMP/g" '^c-1-27 +\*/5 \* \* \* \* +2 +[0-9]+s$'
    run_cmd "$E2E_TMP/gw" kcc 1.27 get crontabs -o wide
    expect_grep "$E2E_TMP/gw" '^NAME +SPEC +REPLICAS +IMAGE +AGE$'
    expect_grep "$E2E_TMP/gw" '^c-1-33 +\*/5 \* \* \* \* +2 +busybox +[0-9]+s$' # the default
    run_cmd "$E2E_TMP/tw" curl_admin -H 'Accept: application/json;as=Table;v=v1;g=meta.k8s.io' \
        "https://127.0.0.1:$PORT/apis/stable.example.com/v1/namespaces/default/crontabs?watch=1&timeoutSeconds=1"
    expect_grep "$E2E_TMP/tw" '"columnDefinitions":\[\{"name":"Name","type":"string","format":"name"'
    expect_grep "$E2E_TMP/tw" '"cells":\["c-1-27","\*/5 \* \* \* \*",2,"busybox","[0-9]+s"\]'
    run_cmd "$E2E_TMP/all" kcc 1.33 get all
    expect_grep "$E2E_TMP/all" '^crontab.stable.example.com/c-1-27 '
    run_cmd "$E2E_TMP/l" kcc 1.33 label ct c-1-27 tier=x
    expect_rc 0 "label"
    run_cmd "$E2E_TMP/ls" kcc 1.27 get ct -l tier=x -o name
    expect_grep "$E2E_TMP/ls" '^crontab.stable.example.com/c-1-27$'
    expect_lines "$E2E_TMP/ls" 1
    run_cmd "$E2E_TMP/fs" kcc 1.33 get ct --field-selector metadata.name=c-1-33 -o name
    expect_lines "$E2E_TMP/fs" 1
    run_cmd "$E2E_TMP/p" kcc 1.33 patch ct c-1-27 --type=merge -p '{"spec":{"mode":"slow"}}'
    expect_rc 0 "merge patch"
    run_cmd "$E2E_TMP/g" kcc 1.33 get ct c-1-27 -o jsonpath='{.metadata.generation} {.spec.mode}'
    expect_grep "$E2E_TMP/g" '^2 slow$'
    run_cmd "$E2E_TMP/smp" kcc 1.33 patch ct c-1-27 -p '{"spec":{"mode":"fast"}}'
    expect_rc 1 "strategic merge patch"
    expect_grep "$E2E_TMP/smp" 'application/strategic-merge-patch\+json is not supported by stable.example.com/v1, Kind=CronTab'
    run_cmd "$E2E_TMP/ssa" kcc 1.33 apply --server-side -f "$E2E_TMP/cr.yaml"
    expect_rc 0 "server-side apply"
    run_cmd "$E2E_TMP/d" kcc 1.27 delete ct c-1-33
    expect_grep "$E2E_TMP/d" 'crontab.stable.example.com "c-1-33" deleted'
    run_cmd "$E2E_TMP/pb" curl_admin -X POST -H 'Content-Type: application/vnd.kubernetes.protobuf' \
        --data-binary 'k8s' "https://127.0.0.1:$PORT/apis/stable.example.com/v1/namespaces/default/crontabs"
    expect_grep "$E2E_TMP/pb" '"code":415'
}

dry_run_finalizers_collections() {
    cr dry 1 >"$E2E_TMP/dry.yaml"
    run_cmd "$E2E_TMP/d" kcc 1.33 create --dry-run=server -f "$E2E_TMP/dry.yaml"
    expect_grep "$E2E_TMP/d" 'crontab.stable.example.com/dry created \(server dry run\)'
    run_cmd "$E2E_TMP/g" kcc 1.33 get ct dry
    expect_rc 1 "dry run stored nothing"
    cr held 1 >"$E2E_TMP/held.yaml"
    sed -i 's/^  name: held$/  name: held\n  finalizers: [example.com\/hold]/' "$E2E_TMP/held.yaml"
    kcc 1.33 create -f "$E2E_TMP/held.yaml" >/dev/null
    run_cmd "$E2E_TMP/del" kcc 1.33 delete ct held --wait=false
    run_cmd "$E2E_TMP/g" kcc 1.33 get ct held -o jsonpath='{.metadata.deletionTimestamp}'
    expect_grep "$E2E_TMP/g" '^20[0-9-]+T'
    kcc 1.33 patch ct held --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
    run_cmd "$E2E_TMP/g" kcc 1.33 get ct held
    expect_rc 1 "gone once the finalizer is removed"
    for n in 1 2 3; do cr "page-$n" 1 | sed "s/^  name: page-$n$/  name: page-$n\n  labels: {set: page}/" >"$E2E_TMP/p$n.yaml"; kcc 1.33 create -f "$E2E_TMP/p$n.yaml" >/dev/null; done
    run_cmd "$E2E_TMP/l" curl_admin "https://127.0.0.1:$PORT/apis/stable.example.com/v1/namespaces/default/crontabs?labelSelector=set%3Dpage&limit=2"
    expect_grep "$E2E_TMP/l" '"continue":"'
    run_cmd "$E2E_TMP/dc" curl_admin -X DELETE "https://127.0.0.1:$PORT/apis/stable.example.com/v1/namespaces/default/crontabs?labelSelector=set%3Dpage"
    expect_grep "$E2E_TMP/dc" '"kind":"CronTabList"'
    run_cmd "$E2E_TMP/g" kcc 1.33 get ct -l set=page -o name
    [[ ! -s "$E2E_TMP/g" ]] || { cat "$E2E_TMP/g" >&2; fail "deletecollection left objects"; }
}

scale_and_status() {
    run_cmd "$E2E_TMP/s" kcc 1.27 scale ct c-1-27 --replicas=5
    expect_rc 0 "scale"
    run_cmd "$E2E_TMP/g" kcc 1.33 get ct c-1-27 -o jsonpath='{.spec.replicas}'
    expect_grep "$E2E_TMP/g" '^5$'
    run_cmd "$E2E_TMP/st" kcc 1.33 patch ct c-1-27 --subresource=status --type=merge \
        -p '{"status":{"replicas":4,"labelSelector":"app=cron"},"spec":{"replicas":1}}'
    expect_rc 0 "status patch"
    run_cmd "$E2E_TMP/sc" curl_admin "https://127.0.0.1:$PORT/apis/stable.example.com/v1/namespaces/default/crontabs/c-1-27/scale"
    expect_grep "$E2E_TMP/sc" '"spec":\{"replicas":5\},"status":\{"replicas":4,"selector":"app=cron"\}'
    # the main resource ignores status
    run_cmd "$E2E_TMP/m" kcc 1.33 patch ct c-1-27 --type=merge -p '{"status":{"replicas":9}}'
    run_cmd "$E2E_TMP/g" kcc 1.33 get ct c-1-27 -o jsonpath='{.status.replicas}'
    expect_grep "$E2E_TMP/g" '^4$'
}

schema_validation() {
    cr bad 20 >"$E2E_TMP/bad.yaml"
    run_cmd "$E2E_TMP/b" kcc 1.33 create -f "$E2E_TMP/bad.yaml"
    expect_rc 1 "maximum"
    expect_grep "$E2E_TMP/b" 'spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10'
    run_cmd "$E2E_TMP/t" kcc 1.33 patch ct c-1-27 --type=merge -p '{"spec":{"replicas":"many"}}'
    expect_rc 1 "type"
    expect_grep "$E2E_TMP/t" 'spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"'
    run_cmd "$E2E_TMP/e" kcc 1.27 patch ct c-1-27 --type=json -p '[{"op":"replace","path":"/spec/mode","value":"medium"}]'
    expect_grep "$E2E_TMP/e" 'spec.mode: Unsupported value: "medium": supported values: "fast", "slow"'
    run_cmd "$E2E_TMP/p" kcc 1.33 patch ct c-1-27 --type=merge -p '{"spec":{"cronSpec":"never"}}'
    expect_grep "$E2E_TMP/p" 'spec.cronSpec: Invalid value: "never": spec.cronSpec in body should match'
    cr unknown 1 '  typo: 1' >"$E2E_TMP/u.yaml"
    run_cmd "$E2E_TMP/u" kcc 1.33 create -f "$E2E_TMP/u.yaml"
    expect_rc 1 "strict unknown field"
    expect_grep "$E2E_TMP/u" 'strict decoding error: unknown field "spec.typo"'
    run_cmd "$E2E_TMP/u2" kcc 1.33 create --validate=false -f "$E2E_TMP/u.yaml"
    expect_rc 0 "pruned"
    run_cmd "$E2E_TMP/g" kcc 1.33 get ct unknown -o jsonpath='{.spec}'
    expect_grep "$E2E_TMP/g" '^\{"cronSpec":"\*/5 \* \* \* \*","image":"busybox","replicas":1\}$'
    cr free 1 '  extra: {any: {thing: [1]}}' >"$E2E_TMP/f.yaml"
    run_cmd "$E2E_TMP/f" kcc 1.33 create -f "$E2E_TMP/f.yaml"
    expect_rc 0 "preserve-unknown-fields"
    run_cmd "$E2E_TMP/g" kcc 1.33 get ct free -o jsonpath='{.spec.extra.any.thing[0]}'
    expect_grep "$E2E_TMP/g" '^1$'
}

explain_works() {
    local v
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/x-$v" kcc "$v" explain crontab.spec
        expect_rc 0 "explain $v"
        expect_grep "$E2E_TMP/x-$v" 'KIND: +CronTab'
        expect_grep "$E2E_TMP/x-$v" 'cronSpec.*<string>.*-required-'
        expect_grep "$E2E_TMP/x-$v" 'The desired state of the cron tab.'
    done
    run_cmd "$E2E_TMP/o3" curl_admin "https://127.0.0.1:$PORT/openapi/v3"
    expect_grep "$E2E_TMP/o3" '"apis/stable.example.com/v1":\{"serverRelativeURL"'
    run_cmd "$E2E_TMP/o3d" curl_admin "https://127.0.0.1:$PORT/openapi/v3/apis/stable.example.com/v1"
    expect_grep "$E2E_TMP/o3d" '"com.example.stable.v1.CronTab":\{'
}

python_watch() {
    "$PY" - "$DATA/server/admin.kubeconfig" <<'PYEOF' || fail "python watch"
import sys, threading
from kubernetes import client, config, watch
config.load_kube_config(config_file=sys.argv[1])
api = client.CustomObjectsApi()
events = []
def run():
    w = watch.Watch()
    for ev in w.stream(api.list_namespaced_custom_object, "stable.example.com", "v1", "default",
                       "crontabs", label_selector="py=1", timeout_seconds=5):
        events.append((ev["type"], ev["object"]["metadata"]["name"]))
        if ev["type"] == "DELETED":
            w.stop()
th = threading.Thread(target=run)
th.start()
import time; time.sleep(1)
body = {"apiVersion": "stable.example.com/v1", "kind": "CronTab",
        "metadata": {"name": "from-py", "labels": {"py": "1"}},
        "spec": {"cronSpec": "* * * * *", "replicas": 1}}
api.create_namespaced_custom_object("stable.example.com", "v1", "default", "crontabs", body)
api.patch_namespaced_custom_object("stable.example.com", "v1", "default", "crontabs", "from-py",
                                   {"spec": {"replicas": 2}})
got = api.get_namespaced_custom_object("stable.example.com", "v1", "default", "crontabs", "from-py")
assert got["spec"]["replicas"] == 2 and got["metadata"]["generation"] == 2, got
api.delete_namespaced_custom_object("stable.example.com", "v1", "default", "crontabs", "from-py")
th.join(10)
assert events == [("ADDED", "from-py"), ("MODIFIED", "from-py"), ("DELETED", "from-py")], events
PYEOF
}

cluster_scoped_two_versions() {
    cat >"$E2E_TMP/w.yaml" <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Cluster
  names: {plural: widgets, kind: Widget}
  versions:
  - name: v1beta1
    served: true
    storage: false
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, properties: {size: {type: integer}}}}
YAML
    kcc 1.27 apply -f "$E2E_TMP/w.yaml" >/dev/null
    kcc 1.27 wait --for condition=established --timeout=10s crd/widgets.example.com >/dev/null
    printf 'apiVersion: example.com/v1beta1\nkind: Widget\nmetadata: {name: w1}\nsize: 3\n' >"$E2E_TMP/w1.yaml"
    run_cmd "$E2E_TMP/c" kcc 1.33 create -f "$E2E_TMP/w1.yaml"
    expect_rc 0 "create via v1beta1"
    run_cmd "$E2E_TMP/g1" curl_admin "https://127.0.0.1:$PORT/apis/example.com/v1/widgets/w1"
    expect_grep "$E2E_TMP/g1" '^\{"apiVersion":"example.com/v1","kind":"Widget"'
    run_cmd "$E2E_TMP/l" curl_admin "https://127.0.0.1:$PORT/apis/example.com/v1beta1/widgets"
    expect_grep "$E2E_TMP/l" '"items":\[\{"apiVersion":"example.com/v1beta1","kind":"Widget"'
    run_cmd "$E2E_TMP/w" curl_admin "https://127.0.0.1:$PORT/apis/example.com/v1/widgets?watch=1&timeoutSeconds=1"
    expect_grep "$E2E_TMP/w" '"type":"ADDED","object":\{"apiVersion":"example.com/v1"'
    run_cmd "$E2E_TMP/t" kcc 1.33 get widgets
    expect_grep "$E2E_TMP/t" '^NAME +AGE$'
    expect_grep "$E2E_TMP/t" '^w1 +[0-9]+s$'
    run_cmd "$E2E_TMP/v" curl_admin "https://127.0.0.1:$PORT/apis/example.com"
    expect_grep "$E2E_TMP/v" '"preferredVersion":\{"groupVersion":"example.com/v1","version":"v1"\}'
    run_cmd "$E2E_TMP/ns" curl_admin "https://127.0.0.1:$PORT/apis/example.com/v1/namespaces/default/widgets"
    expect_grep "$E2E_TMP/ns" '"code":404'
    kcc 1.33 delete crd widgets.example.com >/dev/null
}

builtin_plurals_keep_their_rules_to_themselves() {
    cat >"$E2E_TMP/svc.yaml" <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: services.example.net}
spec:
  group: example.net
  scope: Namespaced
  names: {plural: services, kind: Service}
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
YAML
    kcc 1.33 apply -f "$E2E_TMP/svc.yaml" >/dev/null
    kcc 1.33 wait --for condition=established --timeout=10s crd/services.example.net >/dev/null
    printf 'apiVersion: example.net/v1\nkind: Service\nmetadata: {name: s1}\nspec: {ports: [{port: 80}]}\n' >"$E2E_TMP/s1.yaml"
    run_cmd "$E2E_TMP/c" kcc 1.33 create -f "$E2E_TMP/s1.yaml"
    expect_rc 0 "create a custom Service"
    run_cmd "$E2E_TMP/g" kcc 1.33 get services.example.net s1 -o jsonpath='{.spec}'
    expect_grep "$E2E_TMP/g" '^\{"ports":\[\{"port":80\}\]\}$' # no cluster IP, no defaults
    kcc 1.33 delete crd services.example.net >/dev/null
}

terminating_crd_cleans_up_then_goes() {
    cat >"$E2E_TMP/g.yaml" <<'YAML'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gizmos.example.org, finalizers: [example.org/keep]}
spec:
  group: example.org
  scope: Namespaced
  names: {plural: gizmos, kind: Gizmo}
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
YAML
    kcc 1.33 apply -f "$E2E_TMP/g.yaml" >/dev/null
    kcc 1.33 wait --for condition=established --timeout=10s crd/gizmos.example.org >/dev/null
    printf 'apiVersion: example.org/v1\nkind: Gizmo\nmetadata: {name: g%s}\n' 1 >"$E2E_TMP/g1.yaml"
    kcc 1.33 create -f "$E2E_TMP/g1.yaml" >/dev/null
    run_cmd "$E2E_TMP/d" kcc 1.33 delete crd gizmos.example.org --wait=false
    expect_rc 0 "delete crd"
    local i
    for i in $(seq 50); do # our finalizer goes once the objects are gone; the user's stays
        kcc 1.33 get crd gizmos.example.org -o jsonpath='{.metadata.finalizers} {range .status.conditions[*]}{.type}={.status} {end}' >"$E2E_TMP/s"
        grep -q '^\["example.org/keep"\] ' "$E2E_TMP/s" && break
        sleep 0.1
    done
    expect_grep "$E2E_TMP/s" '^\["example.org/keep"\] NamesAccepted=True Established=True Terminating=True $'
    run_cmd "$E2E_TMP/l" curl_admin "https://127.0.0.1:$PORT/apis/example.org/v1/gizmos"
    expect_grep "$E2E_TMP/l" '"items":\[\]'
    printf 'apiVersion: example.org/v1\nkind: Gizmo\nmetadata: {name: g%s}\n' 2 >"$E2E_TMP/g2.yaml"
    run_cmd "$E2E_TMP/c" kcc 1.33 create -f "$E2E_TMP/g2.yaml"
    expect_rc 1 "create while terminating"
    expect_grep "$E2E_TMP/c" 'create not allowed while custom resource definition is terminating'
    kcc 1.33 patch crd gizmos.example.org --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null
    run_cmd "$E2E_TMP/g" kcc 1.33 get crd gizmos.example.org
    expect_rc 1 "gone with its last finalizer"
}

restart_server() { # in this shell: PORT and SERVER_PID change
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null
    start_server
}

served_again_after_restart() {
    run_cmd "$E2E_TMP/g" kcc 1.33 get ct -o name
    expect_rc 0 "get after restart"
    expect_grep "$E2E_TMP/g" '^crontab.stable.example.com/c-1-27$'
}

deleting_the_crd_removes_its_objects() {
    run_cmd "$E2E_TMP/d" kcc 1.33 delete crd crontabs.stable.example.com
    expect_rc 0 "delete crd"
    run_cmd "$E2E_TMP/g" curl_admin "https://127.0.0.1:$PORT/apis/stable.example.com/v1/crontabs"
    expect_grep "$E2E_TMP/g" '"code":404'
    run_cmd "$E2E_TMP/c" kcc 1.33 apply -f "$E2E_TMP/crd.yaml"
    kcc 1.33 wait --for condition=established --timeout=10s crd/crontabs.stable.example.com >/dev/null
    local i
    for i in $(seq 50); do # the cleanup is asynchronous
        curl_admin "https://127.0.0.1:$PORT/apis/stable.example.com/v1/crontabs" >"$E2E_TMP/l"
        grep -q '"items":\[\]' "$E2E_TMP/l" && return 0
        sleep 0.1
    done
    cat "$E2E_TMP/l" >&2
    fail "custom resources survived their CRD"
}

t crd_is_established crd_is_established
t invalid_crd_is_refused invalid_crd_is_refused
t discovery_shows_the_resource discovery_shows_the_resource
t crud_and_columns crud_and_columns
t dry_run_finalizers_collections dry_run_finalizers_collections
t scale_and_status scale_and_status
t schema_validation schema_validation
t explain_works explain_works
t python_watch python_watch
t cluster_scoped_two_versions cluster_scoped_two_versions
t builtin_plurals_keep_their_rules_to_themselves builtin_plurals_keep_their_rules_to_themselves
t terminating_crd_cleans_up_then_goes terminating_crd_cleans_up_then_goes
restart_server
t served_again_after_restart served_again_after_restart
t deleting_the_crd_removes_its_objects deleting_the_crd_removes_its_objects
