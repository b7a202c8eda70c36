#!/usr/bin/env bash
# test_jobs_kubelet: a Job on the server's real kubelet: its pods run `true`, the kubelet reports
# Succeeded and the Job completes (the tracking finalizer released). Runs in its own network and
# mount namespaces like test_pods.sh; cgroups under kubeling-test-<pid>, removed at the end.
if [[ $(id -u) -ne 0 ]]; then
    echo "ok jobs_kubelet_need_root # SKIP not root"
    exit 0
fi
if [[ -z "${KUBELING_PODS_UNSHARED:-}" ]]; then
    export KUBELING_PODS_UNSHARED=1
    exec unshare --net --mount --propagation private bash "$0" "$@"
fi
ip link set lo up
mkdir -p /run/kubeling && mount -t tmpfs tmpfs /run/kubeling
. "$(dirname "$0")/lib.sh"
CG=kubeling-test-$$
export E2E_KUBELET=1
export KUBELING_TEST_CGROUP_ROOT=$CG
E2E_CLEANUPS+=("'$KUBELING_BIN' killall --cgroup-root $CG >/dev/null 2>&1; ip link del kubeling0 2>/dev/null")
mkdir -p "$DATA/agent/images"
bash "$(dirname "$0")/../../rootfs/images/build.sh" "$DATA/agent/images" >/dev/null 2>&1 ||
    { echo "not ok build_images"; exit 1; }
start_server

job_runs_true_and_completes() {
    kc 1.33 create -f - >/dev/null <<JOB || fail "create"
{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"truth"},
 "spec":{"completions":2,"parallelism":1,"template":{"spec":{"restartPolicy":"Never",
  "terminationGracePeriodSeconds":1,
  "containers":[{"name":"c","image":"busybox","imagePullPolicy":"IfNotPresent","command":["true"]}]}}}}
JOB
    kc 1.33 wait --for=condition=complete job/truth --timeout=90s >/dev/null ||
        fail "not complete: $(kc 1.33 get job truth -o jsonpath='{.status}'; kc 1.33 get pods -o wide)"
    local s
    s=$(kc 1.33 get job truth -o jsonpath='{.status.succeeded}/{.status.failed}/{.status.active}')
    [[ $s == 2/0/0 ]] || fail "status $s"
    s=$(kc 1.33 get pods -l batch.kubernetes.io/job-name=truth -o jsonpath='{range .items[*]}{.status.phase}:{.metadata.finalizers}{"\n"}{end}' 2>&1)
    [[ $s == $'Succeeded:\nSucceeded:' ]] || fail "pods (phase:finalizers): $s"
}

t "a Job whose pods run true completes on the real kubelet" job_runs_true_and_completes
