#!/usr/bin/env bash
# test_jobs: the Job, TTL-after-finished and CronJob controllers inside `kubeling server`, driven
# with real kubectl 1.27 and 1.33. No kubelet runs: the test plays it, patching pods/status to
# Running/Succeeded/Failed (with container exit codes) as a kubelet would report them.
. "$(dirname "$0")/lib.sh"

start_server

# active_pods JOB: names of the job's pods that are neither finished nor terminating.
active_pods() {
    kc 1.33 get pods -l "batch.kubernetes.io/job-name=$1" -o go-template='{{range .items}}{{if not .metadata.deletionTimestamp}}{{if and (ne .status.phase "Succeeded") (ne .status.phase "Failed")}}{{.metadata.name}}{{"\n"}}{{end}}{{end}}{{end}}'
}
active_is() { [[ $(active_pods "$1" | grep -c .) -eq $2 ]]; }
jpath() { kc 1.33 get "$1" "$2" -o jsonpath="$3"; }
jpath_is() { [[ $(jpath "$1" "$2" "$3") == "$4" ]]; }

# finish POD CODE: the pod's container terminated with CODE (0: Succeeded, else Failed).
finish() {
    local phase=Succeeded ts
    [[ $2 -ne 0 ]] && phase=Failed
    ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    kc 1.33 patch pod "$1" --subresource=status --type=merge -p "{\"status\":{\"phase\":\"$phase\",
      \"containerStatuses\":[{\"name\":\"c\",\"image\":\"busybox\",\"imageID\":\"\",\"ready\":false,\"restartCount\":0,
      \"state\":{\"terminated\":{\"exitCode\":$2,\"startedAt\":\"$ts\",\"finishedAt\":\"$ts\",\"reason\":\"$([[ $2 -eq 0 ]] && echo Completed || echo Error)\"}}}]}}" >/dev/null ||
        fail "finish $1"
}
# finish_active JOB CODE [N]: finishes N (default all) of the job's active pods.
finish_active() {
    local p n=0
    for p in $(active_pods "$1"); do
        [[ -n ${3:-} && $n -ge $3 ]] && break
        finish "$p" "$2"
        n=$((n + 1))
    done
    [[ $n -gt 0 ]]
}
running() {
    kc 1.33 patch pod "$1" --subresource=status --type=merge -p '{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}' >/dev/null
}

job_json() { # job_json NAME SPEC-FIELDS (JSON members, no braces)
    cat <<EOF
{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"$1"},
 "spec":{$2${2:+,}"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox","command":["true"]}]}}}}
EOF
}

defaults_and_columns() {
    job_json plain "" | kc 1.27 create -f - >/dev/null || fail "create job"
    run_cmd "$E2E_TMP/j" kc 1.33 get job plain -o json
    "$PY" - "$E2E_TMP/j" <<'EOF' || fail "defaults"
import json, sys
j = json.load(open(sys.argv[1]))
s, uid = j["spec"], j["metadata"]["uid"]
assert s["parallelism"] == 1 and s["completions"] == 1 and s["backoffLimit"] == 6, s
assert s["completionMode"] == "NonIndexed" and s["suspend"] is False, s
assert s["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}, s["selector"]
l = s["template"]["metadata"]["labels"]
assert l == {"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
             "batch.kubernetes.io/job-name": "plain", "job-name": "plain"}, l
EOF
    until_ok 20 active_is plain 1 || fail "no pod"
    local p
    p=$(active_pods plain)
    run_cmd "$E2E_TMP/p" kc 1.33 get pod "$p" -o jsonpath='{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].controller}/{.metadata.finalizers}'
    expect_grep "$E2E_TMP/p" '^Job/true/\["batch.kubernetes.io/job-tracking"\]$'
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/g" kc $v get jobs -o wide
        expect_grep "$E2E_TMP/g" '^NAME +STATUS +COMPLETIONS +DURATION +AGE +CONTAINERS +IMAGES +SELECTOR' ||
            expect_grep "$E2E_TMP/g" '^NAME +COMPLETIONS +DURATION +AGE +CONTAINERS +IMAGES +SELECTOR'
        expect_grep "$E2E_TMP/g" '^plain +(Running +)?0/1 '
    done
    # an explicit selector without manualSelector must match the generated labels
    run_cmd "$E2E_TMP/bad" kc 1.33 create -f - <<EOF
{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"idx-bad"},
 "spec":{"completionMode":"Indexed","parallelism":2,
  "template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}
EOF
    expect_rc 1 "Indexed without completions"
    expect_grep "$E2E_TMP/bad" 'spec.completions: Required value: when completion mode is Indexed'
    finish "$p" 0
    until_ok 20 jpath_is job plain '{.status.succeeded}/{.status.conditions[0].type}' 1/Complete ||
        fail "not complete: $(jpath job plain '{.status}')"
    until_ok 20 eval '[[ -z $(kc 1.33 get pod '"$p"' -o jsonpath="{.metadata.finalizers}") ]]' ||
        fail "finalizer kept"
}

completions_and_parallelism() {
    job_json para '"completions":3,"parallelism":2' | kc 1.33 create -f - >/dev/null || fail "create"
    until_ok 20 active_is para 2 || fail "want 2 active: $(active_pods para)"
    sleep 0.5
    active_is para 2 || fail "more than parallelism"
    finish_active para 0 1
    until_ok 20 jpath_is job para '{.status.succeeded}/{.status.active}' 1/2 ||
        fail "after one: $(jpath job para '{.status}')"
    finish_active para 0 1
    until_ok 20 jpath_is job para '{.status.succeeded}' 2 || fail "two: $(jpath job para '{.status}')"
    sleep 0.5
    active_is para 1 || fail "more pods than completions left: $(active_pods para)"
    finish_active para 0
    until_ok 20 jpath_is job para '{.status.succeeded}/{.status.conditions[0].type}/{.status.conditions[0].status}' 3/Complete/True ||
        fail "not complete: $(jpath job para '{.status}')"
    [[ -n $(jpath job para '{.status.completionTime}') ]] || fail "no completionTime"
    sleep 0.5
    [[ $(kc 1.33 get pods -l batch.kubernetes.io/job-name=para -o name | wc -l) -eq 3 ]] ||
        fail "a completed job started more pods"
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/g" kc $v get job para
        expect_grep "$E2E_TMP/g" '^para +(Complete +)?3/3 '
    done
    kc 1.33 wait --for=condition=complete job/para --timeout=5s >/dev/null || fail "kubectl wait"
    run_cmd "$E2E_TMP/ev" kc 1.33 get events --field-selector involvedObject.name=para
    expect_grep "$E2E_TMP/ev" 'SuccessfulCreate +job/para +Created pod: para-'
    expect_grep "$E2E_TMP/ev" 'Completed +job/para +Job completed'
}

work_queue() {
    job_json wq '"parallelism":3' | kc 1.33 create -f - >/dev/null || fail "create"
    [[ -z $(jpath job wq '{.spec.completions}') ]] || fail "completions defaulted"
    until_ok 20 active_is wq 3 || fail "want 3"
    finish_active wq 0 1
    sleep 1
    active_is wq 2 || fail "a work queue job replaced a succeeded pod"
    jpath_is job wq '{.status.conditions}' '' || fail "complete while pods run"
    finish_active wq 0
    until_ok 20 jpath_is job wq '{.status.succeeded}/{.status.conditions[0].type}' 3/Complete ||
        fail "not complete: $(jpath job wq '{.status}')"
}

backoff_limit() {
    job_json failing '"backoffLimit":1' | kc 1.27 create -f - >/dev/null || fail "create"
    until_ok 20 active_is failing 1 || fail "no pod"
    finish_active failing 1
    until_ok 20 jpath_is job failing '{.status.failed}' 1 || fail "failed count"
    # the replacement waits for the 10 s back-off
    sleep 3
    active_is failing 0 || fail "replaced before the back-off"
    until_ok 15 active_is failing 1 || fail "not replaced after the back-off"
    finish_active failing 1
    until_ok 20 jpath_is job failing '{.status.failed}/{.status.conditions[?(@.type=="Failed")].reason}' 2/BackoffLimitExceeded ||
        fail "not failed: $(jpath job failing '{.status}')"
    run_cmd "$E2E_TMP/g" kc 1.33 get job failing
    expect_grep "$E2E_TMP/g" '^failing +Failed +0/1 '
    run_cmd "$E2E_TMP/ev" kc 1.33 get events --field-selector involvedObject.name=failing
    expect_grep "$E2E_TMP/ev" 'Warning +BackoffLimitExceeded +job/failing +Job has reached the specified backoff limit'
}

indexed() {
    job_json idx '"completions":3,"parallelism":3,"completionMode":"Indexed"' | kc 1.33 create -f - >/dev/null ||
        fail "create"
    until_ok 20 active_is idx 3 || fail "want 3"
    local got
    got=$(kc 1.33 get pods -l batch.kubernetes.io/job-name=idx -o go-template='{{range .items}}{{index .metadata.annotations "batch.kubernetes.io/job-completion-index"}}:{{index .metadata.labels "batch.kubernetes.io/job-completion-index"}}:{{.spec.hostname}}:{{range (index .spec.containers 0).env}}{{.name}}={{.valueFrom.fieldRef.fieldPath}}{{end}}{{"\n"}}{{end}}' | sort)
    [[ $got == "0:0:idx-0:JOB_COMPLETION_INDEX=metadata.annotations['batch.kubernetes.io/job-completion-index']
1:1:idx-1:JOB_COMPLETION_INDEX=metadata.annotations['batch.kubernetes.io/job-completion-index']
2:2:idx-2:JOB_COMPLETION_INDEX=metadata.annotations['batch.kubernetes.io/job-completion-index']" ]] || fail "pods: $got"
    local p0 p1
    p0=$(kc 1.33 get pods -l batch.kubernetes.io/job-completion-index=0,batch.kubernetes.io/job-name=idx -o name | cut -d/ -f2)
    p1=$(kc 1.33 get pods -l batch.kubernetes.io/job-completion-index=1,batch.kubernetes.io/job-name=idx -o name | cut -d/ -f2)
    finish "$p0" 0
    finish "$p1" 1
    until_ok 20 jpath_is job idx '{.status.completedIndexes}/{.status.succeeded}/{.status.failed}' 0/1/1 ||
        fail "indexes: $(jpath job idx '{.status}')"
    # index 1 comes back after the back-off
    until_ok 20 eval '[[ -n $(kc 1.33 get pods -l batch.kubernetes.io/job-completion-index=1,batch.kubernetes.io/job-name=idx -o go-template="{{range .items}}{{if eq .status.phase \"Pending\"}}x{{end}}{{end}}") ]]' ||
        fail "index 1 not re-created"
    finish_active idx 0
    until_ok 20 jpath_is job idx '{.status.completedIndexes}/{.status.conditions[0].type}' 0-2/Complete ||
        fail "not complete: $(jpath job idx '{.status}')"
}

suspend_resume() {
    job_json sus '"parallelism":2,"completions":4' | kc 1.33 create -f - >/dev/null || fail "create"
    until_ok 20 active_is sus 2 || fail "want 2"
    kc 1.33 patch job sus --type=merge -p '{"spec":{"suspend":true}}' >/dev/null || fail "suspend"
    until_ok 20 active_is sus 0 || fail "pods not deleted"
    until_ok 20 jpath_is job sus '{.status.conditions[0].type}/{.status.conditions[0].status}/{.status.conditions[0].reason}/{.status.active}' Suspended/True/JobSuspended/0 ||
        fail "condition: $(jpath job sus '{.status}')"
    run_cmd "$E2E_TMP/g" kc 1.33 get job sus
    expect_grep "$E2E_TMP/g" '^sus +Suspended +0/4 '
    jpath_is job sus '{.status.failed}' 0 || fail "suspended pods counted as failures"
    kc 1.27 patch job sus --type=merge -p '{"spec":{"suspend":false}}' >/dev/null || fail "resume"
    until_ok 20 jpath_is job sus '{.status.conditions[0].status}/{.status.conditions[0].reason}' False/JobResumed ||
        fail "resume condition: $(jpath job sus '{.status}')"
    until_ok 20 active_is sus 2 || fail "not resumed"
    run_cmd "$E2E_TMP/ev" kc 1.33 get events --field-selector involvedObject.name=sus
    expect_grep "$E2E_TMP/ev" 'Suspended +job/sus +Job suspended'
    expect_grep "$E2E_TMP/ev" 'Resumed +job/sus +Job resumed'
    kc 1.33 delete job sus >/dev/null
}

active_deadline() {
    job_json dl '"activeDeadlineSeconds":2' | kc 1.33 create -f - >/dev/null || fail "create"
    until_ok 20 active_is dl 1 || fail "no pod"
    until_ok 20 jpath_is job dl '{.status.conditions[?(@.type=="Failed")].reason}' DeadlineExceeded ||
        fail "no deadline: $(jpath job dl '{.status}')"
    until_ok 20 active_is dl 0 || fail "pod kept"
    jpath_is job dl '{.status.conditions[?(@.type=="Failed")].message}' 'Job was active longer than specified deadline' ||
        fail "message"
}

ttl_after_finished() {
    job_json ttl '"ttlSecondsAfterFinished":3' | kc 1.33 create -f - >/dev/null || fail "create"
    until_ok 20 active_is ttl 1 || fail "no pod"
    finish_active ttl 0
    until_ok 20 jpath_is job ttl '{.status.conditions[0].type}' Complete || fail "not complete"
    sleep 0.5 # completionTime has whole seconds: at least 2 s are left
    kc 1.33 get job ttl >/dev/null 2>&1 || fail "deleted too early"
    until_ok 10 eval '! kc 1.33 get job ttl' || fail "not deleted after the ttl"
}

pod_failure_policy() {
    kc 1.33 create -f - >/dev/null <<EOF || fail "create"
{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"pfp"},
 "spec":{"completions":2,"parallelism":2,"backoffLimit":6,
  "podFailurePolicy":{"rules":[{"action":"Ignore","onPodConditions":[{"type":"DisruptionTarget"}]},
                               {"action":"FailJob","onExitCodes":{"containerName":"c","operator":"In","values":[42]}}]},
  "template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}
EOF
    until_ok 20 active_is pfp 2 || fail "want 2"
    local p
    p=$(active_pods pfp | head -1)
    kc 1.33 patch pod "$p" --subresource=status --type=merge -p '{"status":{"phase":"Failed","conditions":[{"type":"DisruptionTarget","status":"True"}]}}' >/dev/null
    until_ok 20 active_is pfp 2 || fail "ignored failure not replaced at once"
    jpath_is job pfp '{.status.failed}' 0 || fail "an ignored failure counted"
    p=$(active_pods pfp | head -1)
    finish "$p" 42
    until_ok 20 jpath_is job pfp '{.status.conditions[?(@.type=="Failed")].reason}' PodFailurePolicy ||
        fail "not failed: $(jpath job pfp '{.status}')"
    jpath job pfp '{.status.conditions[?(@.type=="Failed")].message}' | grep -q "^Container c for pod default/$p failed with exit code 42 matching FailJob rule at index 1$" ||
        fail "message: $(jpath job pfp '{.status.conditions}')"
}

cronjob_validation() {
    run_cmd "$E2E_TMP/v" kc 1.33 create cronjob badtz --image=busybox --schedule='CRON_TZ=UTC */5 * * * *'
    expect_rc 1 "CRON_TZ accepted"
    expect_grep "$E2E_TMP/v" 'cannot use TZ or CRON_TZ in schedule, use timeZone field instead'
    run_cmd "$E2E_TMP/v" kc 1.33 create cronjob badsched --image=busybox --schedule='61 * * * *'
    expect_rc 1 "bad minute accepted"
    expect_grep "$E2E_TMP/v" 'spec.schedule: Invalid value: "61 \* \* \* \*": end of range \(61\) above maximum \(59\)'
    run_cmd "$E2E_TMP/v" kc 1.33 create -f - <<EOF
{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"badzone"},
 "spec":{"schedule":"@daily","timeZone":"Mars/Olympus",
  "jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}}}
EOF
    expect_rc 1 "unknown zone accepted"
    expect_grep "$E2E_TMP/v" 'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus'
    kc 1.33 create -f - >/dev/null <<EOF || fail "a valid schedule with names and a zone"
{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"named"},
 "spec":{"schedule":"0 9 * JAN-MAR MON-FRI","timeZone":"Europe/Berlin","suspend":true,
  "jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}}}
EOF
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/g" kc $v get cronjobs
        expect_grep "$E2E_TMP/g" '^NAME +SCHEDULE +(TIMEZONE +)?SUSPEND +ACTIVE +LAST SCHEDULE +AGE'
        expect_grep "$E2E_TMP/g" '^named +0 9 \* JAN-MAR MON-FRI +(Europe/Berlin +)?True +0 +<none> '
    done
    jpath_is cronjob named '{.spec.concurrencyPolicy}/{.spec.successfulJobsHistoryLimit}/{.spec.failedJobsHistoryLimit}' Allow/3/1 ||
        fail "defaults"
}

cronjob_runs_and_forbids() {
    kc 1.33 create -f - >/dev/null <<EOF || fail "create"
{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"every"},
 "spec":{"schedule":"* * * * *","concurrencyPolicy":"Forbid",
  "jobTemplate":{"metadata":{"labels":{"from":"cron"}},"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}}}
EOF
    # kubectl create job --from works at once
    kc 1.27 create job manual --from=cronjob/every >/dev/null || fail "create job --from"
    run_cmd "$E2E_TMP/m" kc 1.33 get job manual -o jsonpath='{.metadata.annotations.cronjob\.kubernetes\.io/instantiate}/{.metadata.ownerReferences[0].kind}'
    expect_grep "$E2E_TMP/m" '^manual/CronJob$'
    until_ok 20 active_is manual 1 || fail "the manual job runs no pod"
    finish_active manual 0
    until_ok 20 jpath_is job manual '{.status.conditions[0].type}' Complete || fail "manual not complete"
    # the next minute's run (at most ~62 s away)
    until_ok 75 eval '[[ -n $(kc 1.33 get jobs -l from=cron -o name | grep -v manual) ]]' ||
        fail "no scheduled job: $(kc 1.33 get cronjob every -o jsonpath='{.status}')"
    local j t
    j=$(kc 1.33 get jobs -l from=cron -o name | grep -v manual | cut -d/ -f2)
    t=$(jpath cronjob every '{.status.lastScheduleTime}')
    [[ $j == "every-$(($(date -d "$t" +%s) / 60))" ]] || fail "job name $j for $t"
    until_ok 10 jpath_is cronjob every '{.status.active[0].name}' "$j" || fail "active: $(jpath cronjob every '{.status}')"
    run_cmd "$E2E_TMP/a" jpath job "$j" '{.metadata.annotations.batch\.kubernetes\.io/cronjob-scheduled-timestamp}'
    expect_grep "$E2E_TMP/a" "^${t}\$"
    for v in 1.27 1.33; do
        run_cmd "$E2E_TMP/g" kc $v get cronjob every
        expect_grep "$E2E_TMP/g" '^every +\* \* \* \* \* +(<none> +)?False +1 +[0-9]+s '
    done
    # Forbid: while it runs, the following minute starts nothing
    local wait=$((60 - $(date +%s) % 60 + 3))
    sleep $wait
    [[ $(kc 1.33 get jobs -l from=cron -o name | grep -vc manual) -eq 1 ]] || fail "Forbid started another job"
    run_cmd "$E2E_TMP/ev" kc 1.33 get events --field-selector involvedObject.name=every
    expect_grep "$E2E_TMP/ev" 'JobAlreadyActive +cronjob/every +Not starting job because prior execution is running and concurrency policy is Forbid'
    expect_grep "$E2E_TMP/ev" "SuccessfulCreate +cronjob/every +Created job $j"
    # it finishes: lastSuccessfulTime; the start Forbid held back runs now (no deadline), as upstream
    finish_active "$j" 0
    local next="every-$(($(date -d "$t" +%s) / 60 + 1))"
    until_ok 20 eval '[[ -n $(kc 1.33 get cronjob every -o jsonpath="{.status.lastSuccessfulTime}") ]]' ||
        fail "no lastSuccessfulTime: $(jpath cronjob every '{.status}')"
    until_ok 20 jpath_is cronjob every '{.status.active[*].name}' "$next" ||
        fail "active after completion: $(jpath cronjob every '{.status}')"
    run_cmd "$E2E_TMP/ev" kc 1.33 get events --field-selector involvedObject.name=every
    expect_grep "$E2E_TMP/ev" "SawCompletedJob +cronjob/every +Saw completed job: $j, status: Complete"
    kc 1.33 patch cronjob every --type=merge -p '{"spec":{"suspend":true}}' >/dev/null
}

cronjob_missed_and_history() {
    kc 1.33 create -f - >/dev/null <<EOF || fail "create"
{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"late"},
 "spec":{"schedule":"* * * * *","suspend":true,"successfulJobsHistoryLimit":1,
  "jobTemplate":{"metadata":{"labels":{"from":"late"}},"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}}}
EOF
    # as if the controller had been down for three hours: one catch-up run, and a warning
    local past
    past=$(date -u -d '-3 hours' +%Y-%m-%dT%H:%M:00Z)
    kc 1.33 patch cronjob late --subresource=status --type=merge -p "{\"status\":{\"lastScheduleTime\":\"$past\"}}" >/dev/null ||
        fail "status patch"
    kc 1.33 patch cronjob late --type=merge -p '{"spec":{"suspend":false}}' >/dev/null
    until_ok 20 eval '[[ -n $(kc 1.33 get jobs -l from=late -o name) ]]' || fail "no catch-up run"
    kc 1.33 patch cronjob late --type=merge -p '{"spec":{"suspend":true}}' >/dev/null
    sleep 1
    local jobs
    jobs=$(kc 1.33 get jobs -l from=late -o name)
    [[ $(wc -l <<<"$jobs") -eq 1 ]] || fail "more than one catch-up run: $jobs"
    [[ $(jpath cronjob late '{.status.lastScheduleTime}') > "$(date -u -d '-2 minutes' +%Y-%m-%dT%H:%M:%SZ)" ]] ||
        fail "not the most recent time: $(jpath cronjob late '{.status}')"
    run_cmd "$E2E_TMP/ev" kc 1.33 get events --field-selector involvedObject.name=late
    expect_grep "$E2E_TMP/ev" 'Warning +TooManyMissedTimes +cronjob/late +too many missed start times: 1[89][0-9]\. Set or decrease \.spec\.startingDeadlineSeconds or check clock skew'
    # successfulJobsHistoryLimit 1: of the finished Jobs only the newest stays
    local j
    for j in h1 h2 h3; do
        kc 1.33 create job "$j" --from=cronjob/late >/dev/null || fail "create $j"
        until_ok 20 active_is "$j" 1 || fail "no pod for $j"
        finish_active "$j" 0
        until_ok 20 jpath_is job "$j" '{.status.conditions[0].type}' Complete || fail "$j not complete"
        sleep 1 # distinct startTimes
    done
    until_ok 20 eval '[[ $(kc 1.33 get jobs -l from=late -o name | grep -v "${jobs#job.batch/}") == job.batch/h3 ]]' ||
        fail "history: $(kc 1.33 get jobs -l from=late -o name | tr '\n' ' ')"
    run_cmd "$E2E_TMP/ev" kc 1.33 get events --field-selector involvedObject.name=late
    expect_grep "$E2E_TMP/ev" 'SuccessfulDelete +cronjob/late +Deleted job h1'
    expect_grep "$E2E_TMP/ev" 'SuccessfulDelete +cronjob/late +Deleted job h2'
}

t "Job defaults, generated selector and labels, tracking finalizer, kubectl get columns" defaults_and_columns
t "completions=3 parallelism=2 runs at most 2 pods and completes at 3 successes" completions_and_parallelism
t "without completions (a work queue) the job completes when all pods end after a success" work_queue
t "failed pods are replaced after the back-off until backoffLimit: BackoffLimitExceeded" backoff_limit
t "an Indexed job gives each pod its index and tracks completedIndexes" indexed
t "suspend deletes the active pods (Suspended), resume starts them again" suspend_resume
t "activeDeadlineSeconds fails the job with DeadlineExceeded" active_deadline
t "ttlSecondsAfterFinished deletes the finished job" ttl_after_finished
t "podFailurePolicy: Ignore does not count, FailJob fails the job" pod_failure_policy
t "CronJob validation: CRON_TZ, ranges, time zones; kubectl get cronjobs columns" cronjob_validation
t "missed starts after downtime: one catch-up run, TooManyMissedTimes; history limits" cronjob_missed_and_history
t "a CronJob runs every minute, respects Forbid; kubectl create job --from=cronjob" cronjob_runs_and_forbids
