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

# An Indexed Job's pods get JOB_COMPLETION_INDEX from a fieldRef on the completion index
# annotation (metadata.annotations['batch.kubernetes.io/job-completion-index']): each pod
# prints its own index (and a label and status.podIPs through fieldRefs) and the Job completes.
indexed_job_pods_see_their_index() {
    kc 1.27 create -f - >/dev/null <<JOB || fail "create"
{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"idx"},
 "spec":{"completions":3,"parallelism":3,"completionMode":"Indexed","template":{"spec":{
  "restartPolicy":"Never","terminationGracePeriodSeconds":1,
  "containers":[{"name":"c","image":"busybox","imagePullPolicy":"IfNotPresent",
   "env":[{"name":"JOB","valueFrom":{"fieldRef":{"fieldPath":"metadata.labels['batch.kubernetes.io/job-name']"}}},
          {"name":"PODIPS","valueFrom":{"fieldRef":{"fieldPath":"status.podIPs"}}}],
   "command":["sh","-c","echo index=\$JOB_COMPLETION_INDEX job=\$JOB ips=\$PODIPS"]}]}}}}
JOB
    kc 1.27 wait --for=condition=complete job/idx --timeout=90s >/dev/null ||
        fail "not complete: $(kc 1.33 get job idx -o jsonpath='{.status}'; kc 1.33 get pods -o wide)"
    local s pods p logs=
    s=$(kc 1.33 get job idx -o jsonpath='{.status.succeeded}/{.status.completedIndexes}')
    [[ $s == 3/0-2 ]] || fail "status $s"
    pods=$(kc 1.33 get pods -l batch.kubernetes.io/job-name=idx -o jsonpath='{.items[*].metadata.name}')
    for p in $pods; do
        logs+=$(kc 1.33 logs "$p")$'\n'
    done
    s=$(sort <<<"$logs" | grep . | sed -E 's/ips=10\.42\.0\.[0-9]+$/ips=IP/')
    [[ $s == $'index=0 job=idx ips=IP\nindex=1 job=idx ips=IP\nindex=2 job=idx ips=IP' ]] ||
        fail "logs: $logs"
}

t "an Indexed Job's pods see JOB_COMPLETION_INDEX 0, 1, 2 and the Job completes" indexed_job_pods_see_their_index
