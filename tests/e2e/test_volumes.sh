#!/usr/bin/env bash
# test_volumes: pod volumes, env from configMaps and secrets, and termination messages with the
# server's real kubelet (root). Runs in its own network and mount namespaces like test_pods.sh
# (tmpfs volumes and subPath binds are mounted there and vanish with it); cgroups under
# kubeling-test-<pid>, removed by `kubeling killall` at the end.
. "$(dirname "$0")/lib_node.sh" volumes
# what the kubelet mounted for pods still there at the end (the namespace drops them anyway,
# but the data directory is removed before it ends)
unmount_left() {
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    awk -v t="$E2E_TMP/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r |
        xargs -r -n1 umount -l
}
E2E_CLEANUPS+=(unmount_left) # first: the server must not restart what killall kills
node_cleanup
node_images
start_server
wait_node

apply() { # apply VERSION: the JSON or YAML on stdin
    kc "$1" apply -f - >/dev/null
}

# pod NAME CONTAINERS-JSON VOLUMES-JSON [RESTARTPOLICY] [METADATA-EXTRA]
pod() {
    apply 1.33 <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$1"${5:-}},"spec":{"nodeName":"$NODE",
 "restartPolicy":"${4:-Always}","terminationGracePeriodSeconds":1,
 "containers":$2,"volumes":$3}}
EOF
}

# ctr NAME SHELL-SCRIPT [EXTRA-JSON]: a busybox container running sh -c SCRIPT
ctr() {
    local script=${2//\\/\\\\}
    script=${script//\"/\\\"}
    echo "{\"name\":\"$1\",\"image\":\"busybox\",\"imagePullPolicy\":\"IfNotPresent\",\"command\":[\"sh\",\"-c\",\"$script\"]${3:-}}"
}

logfile() { # logfile POD [CONTAINER]: the CRI log of the container's first attempt
    local uid
    uid=$(kc 1.33 get pod "$1" -o jsonpath='{.metadata.uid}')
    echo "$DATA/agent/logs/pods/default_$1_$uid/${2:-c}/0.log"
}

wait_log() { # wait_log POD CONTAINER REGEX [SECONDS]
    local i f
    for i in $(seq $((${4:-30} * 5))); do
        f=$(logfile "$1" "$2")
        [[ -f $f ]] && grep -qE -- "$3" "$f" && return 0
        sleep 0.2
    done
    cat "$f" >&2 2>/dev/null
    fail "log of $1/$2 lacks /$3/"
}

apply 1.27 <<EOF
{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},
 "data":{"greeting":"hello","color":"blue","1digit":"y"}}
EOF
apply 1.33 <<EOF
{"apiVersion":"v1","kind":"Secret","metadata":{"name":"sec"},"type":"Opaque",
 "data":{"password":"czNjcjN0","user":"YWRtaW4="}}
EOF

configmap_and_secret_volumes() {
    pod cs "[$(ctr c 'while true; do echo "G=$(cat /etc/cfg/greeting)"; sleep 0.3; done' \
        ',"volumeMounts":[{"name":"cfg","mountPath":"/etc/cfg"},{"name":"sec","mountPath":"/etc/sec"}]')]" \
        '[{"name":"cfg","configMap":{"name":"cfg","defaultMode":416}},
          {"name":"sec","secret":{"secretName":"sec","items":[{"key":"password","path":"p/pw","mode":256}]}}]'
    wait_for cs '{.status.phase}' '^Running$'
    wait_log cs c '^.* stdout F G=hello$'
    local uid d modes
    uid=$(kc 1.33 get pod cs -o jsonpath='{.metadata.uid}')
    d=$DATA/agent/pods/$uid/volumes
    [[ -L $d/kubernetes.io~configmap/cfg/..data ]] || fail "no ..data link"
    [[ $(readlink "$d/kubernetes.io~configmap/cfg/greeting") == ..data/greeting ]] || fail "greeting link"
    modes=$(stat -L -c '%a' "$d/kubernetes.io~configmap/cfg/greeting" "$d/kubernetes.io~secret/sec/p/pw" | tr '\n' ' ')
    [[ $modes == '640 400 ' ]] || fail "modes $modes, want 640 400"
    [[ $(cat "$d/kubernetes.io~secret/sec/p/pw") == s3cr3t ]] || fail "secret content"
    [[ ! -e $d/kubernetes.io~secret/sec/user ]] || fail "items must limit the keys"
    grep -q " $d/kubernetes.io~secret/sec tmpfs " /proc/mounts || fail "secret volume not on tmpfs"
    ! grep -q " $d/kubernetes.io~configmap/cfg " /proc/mounts || fail "configMap volume must be on disk"
}

configmap_update_reaches_container() {
    kc 1.33 patch configmap cfg --type merge -p '{"data":{"greeting":"updated"}}' >/dev/null
    wait_log cs c '^.* stdout F G=updated$' 20
}

modes_seen_in_container() {
    pod modes "[$(ctr c 'busybox stat -L -c "%a %n" /etc/cfg/color /etc/sec/p/pw; busybox ls -a /etc/cfg | busybox tr "\n" " "; echo' \
        ',"volumeMounts":[{"name":"cfg","mountPath":"/etc/cfg"},{"name":"sec","mountPath":"/etc/sec"}]')]" \
        '[{"name":"cfg","configMap":{"name":"cfg","defaultMode":416}},
          {"name":"sec","secret":{"secretName":"sec","items":[{"key":"password","path":"p/pw","mode":256}]}}]' Never
    wait_for modes '{.status.phase}' '^Succeeded$'
    local f
    f=$(logfile modes)
    grep -q ' F 640 /etc/cfg/color$' "$f" || { cat "$f" >&2; fail "color mode"; }
    grep -q ' F 400 /etc/sec/p/pw$' "$f" || { cat "$f" >&2; fail "pw mode"; }
    grep -q ' F \. \.\. \.\.[0-9_]*\.[0-9A-Za-z]* \.\.data 1digit color greeting $' "$f" ||
        { cat "$f" >&2; fail "volume listing"; }
}

empty_dirs_shared_and_tmpfs() {
    pod ed "[$(ctr w 'echo shared-data > /data/f; sleep 3600' ',"volumeMounts":[{"name":"d","mountPath":"/data"}]'),
             $(ctr c 'while [ ! -f /in/f ]; do sleep 0.2; done; cat /in/f; (echo x > /in/g) 2>/dev/null && echo writable || echo read-only; busybox grep " /cache " /proc/mounts; sleep 3600' \
                ',"volumeMounts":[{"name":"d","mountPath":"/in","readOnly":true},{"name":"m","mountPath":"/cache"}]')]" \
        '[{"name":"d","emptyDir":{}},{"name":"m","emptyDir":{"medium":"Memory","sizeLimit":"16Mi"}}]'
    wait_for ed '{.status.phase}' '^Running$'
    wait_log ed c ' F shared-data$'
    wait_log ed c ' F read-only$'
    wait_log ed c ' F tmpfs /cache tmpfs .*size=16384k'
    local uid
    uid=$(kc 1.33 get pod ed -o jsonpath='{.metadata.uid}')
    grep -q "/pods/$uid/volumes/kubernetes.io~empty-dir/m tmpfs" /proc/mounts || fail "no tmpfs on the host side"
    kc 1.27 delete pod ed --wait=true >/dev/null || fail "delete"
    ! grep -q "/pods/$uid/" /proc/mounts || fail "mounts left after deletion"
    [[ ! -e $DATA/agent/pods/$uid ]] || fail "pod dir left"
}

host_path_types() {
    mkdir -p "$E2E_TMP/hp-dir" && echo from-host >"$E2E_TMP/hp-dir/x"
    : >"$E2E_TMP/hp-file"
    pod hp "[$(ctr c "cat /h/x; ls -d /made; echo ok > /f; sleep 3600" \
        ',"volumeMounts":[{"name":"h","mountPath":"/h"},{"name":"n","mountPath":"/made"},{"name":"f","mountPath":"/f"}]')]" \
        "[{\"name\":\"h\",\"hostPath\":{\"path\":\"$E2E_TMP/hp-dir\",\"type\":\"Directory\"}},
          {\"name\":\"n\",\"hostPath\":{\"path\":\"$E2E_TMP/hp-new\",\"type\":\"DirectoryOrCreate\"}},
          {\"name\":\"f\",\"hostPath\":{\"path\":\"$E2E_TMP/hp-created\",\"type\":\"FileOrCreate\"}}]"
    wait_for hp '{.status.phase}' '^Running$'
    wait_log hp c ' F from-host$'
    [[ -d $E2E_TMP/hp-new ]] || fail "DirectoryOrCreate did not create"
    [[ $(cat "$E2E_TMP/hp-created") == ok ]] || fail "FileOrCreate file not written through"
    pod hpbad "[$(ctr c 'true' ',"volumeMounts":[{"name":"h","mountPath":"/h"}]')]" \
        "[{\"name\":\"h\",\"hostPath\":{\"path\":\"$E2E_TMP/hp-file\",\"type\":\"Directory\"}}]"
    wait_for hpbad '{.status.containerStatuses[0].state.waiting.message}' \
        "MountVolume.SetUp failed for volume \"h\" : hostPath type check failed: $E2E_TMP/hp-file is not a directory"
    wait_for hpbad '{.status.containerStatuses[0].state.waiting.reason}' '^ContainerCreating$'
    [[ $(kc 1.27 get pod hpbad -o jsonpath='{.status.phase}') == Pending ]] || fail "phase"
    # upstream's Warning FailedMount event on the pod (repeats counted, not rewritten)
    run_cmd "$E2E_TMP/fm" kc 1.33 get events --field-selector involvedObject.name=hpbad,reason=FailedMount \
        -o jsonpath='{range .items[*]}{.type} {.involvedObject.kind} {.message}{"\n"}{end}'
    expect_grep "$E2E_TMP/fm" "^Warning Pod MountVolume.SetUp failed for volume \"h\" : hostPath type check failed"
}

downward_and_projected() {
    pod dp "[$(ctr c 'cat /dw/labels; echo; cat /dw/cpu; echo; ls /pj | busybox tr "\n" " "; echo; cat /pj/sub/greeting /pj/pw /pj/name; echo; sleep 3600' \
        ',"resources":{"limits":{"cpu":"250m","memory":"32Mi"}},"volumeMounts":[{"name":"dw","mountPath":"/dw"},{"name":"pj","mountPath":"/pj"}]')]" \
        '[{"name":"dw","downwardAPI":{"items":[{"path":"labels","fieldRef":{"fieldPath":"metadata.labels"}},
            {"path":"cpu","resourceFieldRef":{"containerName":"c","resource":"limits.cpu","divisor":"1m"}}]}},
          {"name":"pj","projected":{"sources":[{"configMap":{"name":"cfg","items":[{"key":"greeting","path":"sub/greeting"}]}},
            {"secret":{"name":"sec","items":[{"key":"password","path":"pw"}]}},
            {"downwardAPI":{"items":[{"path":"name","fieldRef":{"fieldPath":"metadata.name"}}]}}]}}]' \
        Always ',"labels":{"app":"web","tier":"front"}'
    wait_for dp '{.status.phase}' '^Running$'
    wait_log dp c ' F app="web"$'
    local f
    f=$(logfile dp)
    grep -q ' F tier="front"$' "$f" || { cat "$f" >&2; fail "labels file"; }
    grep -q ' F 250$' "$f" || { cat "$f" >&2; fail "limits.cpu in 1m"; }
    grep -q ' F name pw sub $' "$f" || { cat "$f" >&2; fail "projected listing"; }
    grep -q ' F updateds3cr3tdp$' "$f" || { cat "$f" >&2; fail "projected content"; }
    # a label change rewrites the file
    kc 1.33 label pod dp tier=back --overwrite >/dev/null
    local uid i
    uid=$(kc 1.33 get pod dp -o jsonpath='{.metadata.uid}')
    for i in $(seq 50); do
        grep -q 'tier="back"' "$DATA/agent/pods/$uid/volumes/kubernetes.io~downward-api/dw/labels" && return 0
        sleep 0.2
    done
    fail "labels file not updated"
}

sub_paths() {
    pod sp "[$(ctr w 'mkdir -p /v/real && echo inside > /v/real/f && busybox ln -s / /v/esc && busybox ln -s real /v/ok && sleep 3600' \
        ',"volumeMounts":[{"name":"v","mountPath":"/v"}]')]" '[{"name":"v","emptyDir":{}}]'
    wait_for sp '{.status.phase}' '^Running$'
    local uid i
    uid=$(kc 1.33 get pod sp -o jsonpath='{.metadata.uid}')
    for i in $(seq 50); do
        [[ -L $DATA/agent/pods/$uid/volumes/kubernetes.io~empty-dir/v/esc ]] && break
        sleep 0.2
    done
    # a second pod cannot reach the first one's volume: use a hostPath to the same directory
    local vol=$DATA/agent/pods/$uid/volumes/kubernetes.io~empty-dir/v
    pod spok "[$(ctr c 'cat /m/f; cat /cfg; echo; sleep 3600' \
        ',"env":[{"name":"SUB","value":"real"}],"volumeMounts":[{"name":"h","mountPath":"/m","subPathExpr":"$(SUB)"},{"name":"cfg","mountPath":"/cfg","subPath":"color"}]')]" \
        "[{\"name\":\"h\",\"hostPath\":{\"path\":\"$vol\"}},{\"name\":\"cfg\",\"configMap\":{\"name\":\"cfg\"}}]"
    wait_for spok '{.status.phase}' '^Running$'
    wait_log spok c ' F inside$'
    wait_log spok c ' F blue$'
    pod spesc "[$(ctr c 'ls /m; sleep 3600' ',"volumeMounts":[{"name":"h","mountPath":"/m","subPath":"esc"}]')]" \
        "[{\"name\":\"h\",\"hostPath\":{\"path\":\"$vol\"}}]"
    wait_for spesc '{.status.containerStatuses[0].state.waiting.reason}' '^CreateContainerConfigError$'
    wait_for spesc '{.status.containerStatuses[0].state.waiting.message}' \
        '^failed to prepare subPath for volumeMount "h" of container "c"$'
    pod spmk "[$(ctr c 'echo made > /m/x; sleep 3600' ',"volumeMounts":[{"name":"h","mountPath":"/m","subPath":"new/deep"}]')]" \
        "[{\"name\":\"h\",\"hostPath\":{\"path\":\"$vol\"}}]"
    wait_for spmk '{.status.phase}' '^Running$'
    for i in $(seq 50); do
        [[ -f $vol/new/deep/x ]] && break
        sleep 0.2
    done
    [[ $(cat "$vol/new/deep/x" 2>/dev/null) == made ]] || fail "subPath directory not created"
    # a restarted container gets its subPath bound again
    pod sprs "[$(ctr c 'cat /m/f; exit 1' ',"volumeMounts":[{"name":"h","mountPath":"/m","subPath":"real"}]')]" \
        "[{\"name\":\"h\",\"hostPath\":{\"path\":\"$vol\"}}]"
    wait_for sprs '{.status.containerStatuses[0].restartCount}' '^[1-9]' 40
    local l1
    l1=$(dirname "$(logfile sprs)")/1.log
    for i in $(seq 50); do grep -q ' F inside$' "$l1" 2>/dev/null && break; sleep 0.2; done
    grep -q ' F inside$' "$l1" || fail "the restarted container did not see its subPath"
    kc 1.33 delete pod spok spmk spesc sprs >/dev/null
    ! grep -q "/volume-subpaths/" /proc/mounts || fail "subPath binds left"
}

pvc_host_path() {
    mkdir -p "$E2E_TMP/pv" && echo pv-data >"$E2E_TMP/pv/file"
    apply 1.27 <<EOF
{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"pv1"},"spec":{"capacity":{"storage":"1Gi"},
 "accessModes":["ReadWriteOnce"],"hostPath":{"path":"$E2E_TMP/pv","type":"Directory"}}}
EOF
    apply 1.27 <<EOF
{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"claim"},"spec":{
 "accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}},"volumeName":"pv1"}}
EOF
    pod pvc "[$(ctr c 'cat /pv/file; echo w > /pv/written; sleep 3600' ',"volumeMounts":[{"name":"p","mountPath":"/pv"}]')]" \
        '[{"name":"p","persistentVolumeClaim":{"claimName":"claim"}}]'
    wait_for pvc '{.status.phase}' '^Running$'
    wait_log pvc c ' F pv-data$'
    local i
    for i in $(seq 25); do [[ -f $E2E_TMP/pv/written ]] && break; sleep 0.2; done
    [[ -f $E2E_TMP/pv/written ]] || fail "write did not reach the PV"
}

env_from_config() {
    pod envs "[$(ctr c 'echo "cm=$CM sec=$SEC opt=${OPT-unset} pfx=$P_greeting $P_color one=${P_1digit} plain=$color exp=$EXP"; env | busybox grep -c "^1digit" || true; sleep 3600' \
        ',"env":[{"name":"CM","valueFrom":{"configMapKeyRef":{"name":"cfg","key":"color"}}},
                 {"name":"SEC","valueFrom":{"secretKeyRef":{"name":"sec","key":"user"}}},
                 {"name":"OPT","valueFrom":{"configMapKeyRef":{"name":"nope","key":"k","optional":true}}},
                 {"name":"EXP","value":"$(P_color)-x"}],
          "envFrom":[{"prefix":"P_","configMapRef":{"name":"cfg"}},{"configMapRef":{"name":"cfg"}},
                     {"secretRef":{"name":"absent","optional":true}}]')]" '[]'
    wait_for envs '{.status.phase}' '^Running$'
    wait_log envs c ' F cm=blue sec=admin opt=unset pfx=updated blue one=y plain=blue exp=blue-x$'
    wait_log envs c ' F 0$'
}

config_error_then_recovery() {
    pod late "[$(ctr c 'echo got=$V; sleep 3600' ',"env":[{"name":"V","valueFrom":{"configMapKeyRef":{"name":"late","key":"k"}}}]')]" '[]'
    wait_for late '{.status.containerStatuses[0].state.waiting.reason}' '^CreateContainerConfigError$'
    wait_for late '{.status.containerStatuses[0].state.waiting.message}' '^configmap "late" not found$'
    kc 1.27 get pod late | grep -q CreateContainerConfigError || fail "kubectl 1.27 STATUS column"
    kc 1.27 create configmap late --from-literal=k=arrived >/dev/null
    wait_for late '{.status.phase}' '^Running$' 15
    wait_log late c ' F got=arrived$'
    # a missing key names it
    pod latekey "[$(ctr c 'true' ',"env":[{"name":"V","valueFrom":{"secretKeyRef":{"name":"sec","key":"nokey"}}}]')]" '[]'
    wait_for latekey '{.status.containerStatuses[0].state.waiting.message}' '^couldn.t find key nokey in Secret default/sec$'
    # a missing volume source: the pod waits with the mount failure, then starts
    pod latevol "[$(ctr c 'cat /s/k; echo; sleep 3600' ',"volumeMounts":[{"name":"s","mountPath":"/s"}]')]" \
        '[{"name":"s","secret":{"secretName":"latesec"}}]'
    wait_for latevol '{.status.containerStatuses[0].state.waiting.message}' \
        '^MountVolume.SetUp failed for volume "s" : secret "latesec" not found$'
    kc 1.33 create secret generic latesec --from-literal=k=sv >/dev/null
    wait_for latevol '{.status.phase}' '^Running$' 15
    wait_log latevol c ' F sv$'
}

termination_messages() {
    pod tm "[$(ctr c 'echo -n goodbye > /dev/termination-log')]" '[]' Never
    wait_for tm '{.status.containerStatuses[0].state.terminated.message}' '^goodbye$'
    pod tm2 "[$(ctr c 'echo custom > /tmp/msg; exit 2' ',"terminationMessagePath":"/tmp/msg"')]" '[]' Never
    wait_for tm2 '{.status.containerStatuses[0].state.terminated.message}' '^custom'
    pod tm3 "[$(ctr c 'for i in $(busybox seq 1 100); do echo line$i; done; exit 1' ',"terminationMessagePolicy":"FallbackToLogsOnError"')]" '[]' Never
    wait_for tm3 '{.status.phase}' '^Failed$'
    local m
    m=$(kc 1.27 get pod tm3 -o jsonpath='{.status.containerStatuses[0].state.terminated.message}')
    [[ $m == line21$'\n'*line100 ]] || fail "fallback message '${m:0:40}...${m: -20}' is not lines 21..100"
}

service_account_token() {
    kc 1.33 create serviceaccount robot >/dev/null
    apply 1.33 <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"tok"},"spec":{"nodeName":"$NODE",
 "serviceAccountName":"robot","terminationGracePeriodSeconds":1,
 "containers":[$(ctr c 'busybox wc -c < /var/run/secrets/tokens/token; cat /var/run/secrets/tokens/ca; echo; sleep 3600' \
    ',"volumeMounts":[{"name":"t","mountPath":"/var/run/secrets/tokens"}]')],
 "volumes":[{"name":"t","projected":{"sources":[
   {"serviceAccountToken":{"path":"token","expirationSeconds":3600,"audience":"vault"}},
   {"configMap":{"name":"cfg","items":[{"key":"color","path":"ca"}]}}]}}]}}
EOF
    wait_for tok '{.status.phase}' '^Running$'
    wait_log tok c ' F blue$'
    local uid tok payload
    uid=$(kc 1.33 get pod tok -o jsonpath='{.metadata.uid}')
    tok=$(cat "$DATA/agent/pods/$uid/volumes/kubernetes.io~projected/t/token")
    [[ $tok =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]] || fail "not a JWT: $tok"
    payload=$(cut -d. -f2 <<<"$tok" | tr '_-' '/+')
    while ((${#payload} % 4)); do payload+='='; done
    payload=$(base64 -d <<<"$payload")
    grep -q '"aud":\["vault"\]' <<<"$payload" || fail "audience: $payload"
    grep -q "\"uid\":\"$uid\"" <<<"$payload" || fail "not bound to the pod: $payload"
    grep -q 'system:serviceaccount:default:robot' <<<"$payload" || fail "subject: $payload"
}

t configmap_and_secret_volumes configmap_and_secret_volumes
t configmap_update_reaches_container configmap_update_reaches_container
t modes_seen_in_container modes_seen_in_container
t empty_dirs_shared_and_tmpfs empty_dirs_shared_and_tmpfs
t host_path_types host_path_types
t downward_and_projected downward_and_projected
t sub_paths sub_paths
t pvc_host_path pvc_host_path
t env_from_config env_from_config
t config_error_then_recovery config_error_then_recovery
t termination_messages termination_messages
t service_account_token service_account_token

# Volumes of a pod deleted while the kubelet was away are unmounted and removed at start.
pod orphan "[$(ctr c 'sleep 3600' ',"volumeMounts":[{"name":"m","mountPath":"/m"}]')]" \
    '[{"name":"m","emptyDir":{"medium":"Memory"}},{"name":"s","secret":{"secretName":"sec"}}]'
orphan_running() {
    wait_for orphan '{.status.phase}' '^Running$'
}
t orphan_running orphan_running
ORPHAN_UID=$(kc 1.33 get pod orphan -o jsonpath='{.metadata.uid}')
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
start_server --disable-agent
kc 1.33 delete pod orphan --grace-period=0 --force >/dev/null 2>&1
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
start_server
orphan_volumes_removed() {
    local i
    for i in $(seq 100); do
        [[ -e $DATA/agent/pods/$ORPHAN_UID ]] || break
        sleep 0.2
    done
    [[ ! -e $DATA/agent/pods/$ORPHAN_UID ]] || fail "its pod directory is left"
    ! grep -q "/pods/$ORPHAN_UID/" /proc/mounts || fail "its mounts are left"
}
t orphan_volumes_removed orphan_volumes_removed
