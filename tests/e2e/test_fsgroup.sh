#!/usr/bin/env bash
# test_fsgroup: the pod's securityContext.fsGroup and supplementalGroups on the server's real
# kubelet (root): the container process has them as supplementary groups, an emptyDir and the
# secret, configMap and projected volumes belong to the fsGroup (setgid directories, group
# read/write like upstream's SetVolumeOwnership, secret modes made group-readable), a hostPath
# keeps its owner. Own network and mount namespaces like test_volumes.sh.
. "$(dirname "$0")/lib_node.sh" fsgroup
unmount_left() {
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    awk -v t="$E2E_TMP/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r |
        xargs -r -n1 umount -l
}
E2E_CLEANUPS+=(unmount_left)
node_cleanup
node_images
start_server
wait_node

HOSTDIR=$E2E_TMP/host
mkdir -p "$HOSTDIR" && chmod 0755 "$HOSTDIR"

kc 1.33 apply -f - >/dev/null <<EOF
{"apiVersion":"v1","kind":"List","items":[
 {"apiVersion":"v1","kind":"Secret","metadata":{"name":"sec"},"data":{"key":"czNjcjN0"}},
 {"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"a":"b"}},
 {"apiVersion":"v1","kind":"Pod","metadata":{"name":"fsg"},"spec":{"nodeName":"$NODE",
  "terminationGracePeriodSeconds":1,
  "securityContext":{"runAsUser":1000,"fsGroup":2000,"supplementalGroups":[3000],
                     "fsGroupChangePolicy":"OnRootMismatch"},
  "containers":[{"name":"c","image":"busybox","imagePullPolicy":"IfNotPresent",
   "command":["sh","-c","id; echo hi > /data/f && mkdir /data/d && cat /data/f; cat /sec/key; echo; sleep 3600"],
   "volumeMounts":[{"name":"data","mountPath":"/data"},{"name":"sec","mountPath":"/sec"},
                   {"name":"cfg","mountPath":"/cfg"},{"name":"mem","mountPath":"/mem"},
                   {"name":"proj","mountPath":"/proj"},{"name":"host","mountPath":"/host"}]}],
  "volumes":[{"name":"data","emptyDir":{}},
             {"name":"mem","emptyDir":{"medium":"Memory"}},
             {"name":"sec","secret":{"secretName":"sec","defaultMode":256}},
             {"name":"cfg","configMap":{"name":"cfg"}},
             {"name":"proj","projected":{"sources":[{"secret":{"name":"sec"}},
               {"downwardAPI":{"items":[{"path":"name","fieldRef":{"fieldPath":"metadata.name"}}]}}]}},
             {"name":"host","hostPath":{"path":"$HOSTDIR"}}]}}]}
EOF
kc 1.33 apply -f - >/dev/null <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"merge"},"spec":{"nodeName":"$NODE",
  "terminationGracePeriodSeconds":1,"securityContext":{"supplementalGroups":[5000]},
  "containers":[{"name":"c","image":"busybox","imagePullPolicy":"IfNotPresent",
   "command":["sh","-c","echo extra:x:4242:nobody,root >> /etc/group; echo root:x:77:root >> /etc/group; sleep 3600"]}]}}
EOF
wait_for fsg '{.status.phase}' Running 60

groups_are_fsgroup_and_supplemental() {
    local out
    for _ in $(seq 50); do
        out=$(kc 1.33 logs fsg 2>&1)
        [[ $out == *s3cr3t* ]] && break
        sleep 0.2
    done
    # runAsUser without runAsGroup: the image's group (root), also a supplementary one as
    # containerd makes it; then fsGroup and supplementalGroups
    [[ $out == $'uid=1000 gid=0(root) groups=0(root),2000,3000\nhi\ns3cr3t'* ]] ||
        fail "container output: $out"
    out=$(kc 1.27 exec fsg -- id)
    [[ $out == 'uid=1000 gid=0(root) groups=0(root),2000,3000' ]] || fail "exec id: $out"
}

# containerd's default (supplementalGroupsPolicy Merge): the groups the image's /etc/group
# lists the user in come too. The container adds such a group to its own /etc/group; exec
# reads it there.
image_groups_are_merged() {
    local out
    wait_for merge '{.status.phase}' Running 60
    for _ in $(seq 50); do
        kc 1.33 exec merge -- grep -q extra /etc/group 2>/dev/null && break
        sleep 0.2
    done
    out=$(kc 1.33 exec merge -- id)
    [[ $out == 'uid=0(root) gid=0(root) groups=0(root),4242(extra),5000' ]] || fail "exec id: $out"
}

stat_in() { # stat_in PATH...: "mode gid path" per path, as seen in the container
    kc 1.33 exec fsg -- busybox stat -c '%A %g %n' "$@"
}

volumes_belong_to_fsgroup() {
    local out
    out=$(stat_in /data /data/f /data/d /mem)
    [[ $out == $'drwxrwsrwx 2000 /data\n-rw-r--r-- 2000 /data/f\ndrwxr-sr-x 2000 /data/d\ndrwxrwsrwt 2000 /mem' ||
        $out == $'drwxrwsrwx 2000 /data\n-rw-r--r-- 2000 /data/f\ndrwxr-sr-x 2000 /data/d\ndrwxrwsrwx 2000 /mem' ]] ||
        fail "emptyDirs: $out"
    out=$(kc 1.33 exec fsg -- ls -ln /data)
    [[ $out =~ -rw-r--r--\ +1\ 1000\ +2000\ .*\ f ]] || fail "ls -ln /data: $out"
    # secret 0400 becomes 0440 with the group: readable by the user through the fsGroup
    out=$(stat_in /sec /sec/..data/key /cfg/..data/a /proj/..data/key /proj/..data/name)
    [[ $out == *$'-r--r----- 2000 /sec/..data/key\n-rw-r--r-- 2000 /cfg/..data/a\n-rw-r--r-- 2000 /proj/..data/key\n-rw-r--r-- 2000 /proj/..data/name'* ]] ||
        fail "volume files: $out"
    [[ $out == 'drwxrwsrwt 2000 /sec'$'\n'* ]] || fail "secret dir (a tmpfs, setgid): $out"
    out=$(kc 1.33 exec fsg -- sh -c 'busybox stat -c "%A" /sec/..data/; cat /sec/key /proj/key')
    [[ $out == $'drwxr-sr-x\ns3cr3ts3cr3t' ]] || fail "secret data dir and reads: $out"
}

host_path_keeps_its_owner() {
    local out
    out=$(stat -c '%a %g' "$HOSTDIR")
    [[ $out == "755 0" ]] || fail "hostPath on the host: $out"
}

t "the container's groups are its fsGroup and supplementalGroups" groups_are_fsgroup_and_supplemental
t "the groups the image's /etc/group gives the user are merged in" image_groups_are_merged
t "emptyDir, secret, configMap and projected volumes belong to the fsGroup" volumes_belong_to_fsgroup
t "a hostPath volume keeps its owner and mode" host_path_keeps_its_owner
