#!/usr/bin/env bash
# test_jobs_kubelet: a Job on the server's real kubelet: its pods run `true`, the kubelet reports
# Succeeded and the Job completes (the tracking finalizer released). Runs in its own network and
# mount namespaces like test_pods.sh; cgroups under kubeling-test-<pid>, removed at the end.
. "$(dirname "$0")/lib_node.sh" jobs_kubelet
node_cleanup
node_images
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
