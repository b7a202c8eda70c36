#!/usr/bin/env bash
# test_attach: kubectl attach with stdin and a terminal, and kubectl run -i/-it (which attaches),
# against the server's real kubelet (root), kubectl 1.27 (SPDY) and 1.33 (WebSocket). Terminals
# are driven with script(1) as in test_kubelet_api.sh's exec -it. Own network and mount
# namespaces like test_pods.sh.
. "$(dirname "$0")/lib_node.sh" attach
node_cleanup
node_images
start_server
wait_node

kt() { # kt SECONDS VERSION ARGS...: kubectl with a time limit
    local s=$1 v=$2
    shift 2
    timeout "$s" "$KUBECTL_DIR/kubectl.$v" --kubeconfig "$DATA/server/admin.kubeconfig" "$@"
}

# in_tty SECONDS COMMAND: runs COMMAND in a 123x45 terminal, stdin from ours (a pipeline: then
# tty_out reads what it printed)
in_tty() {
    timeout "$1" script -qfec "stty cols 123 rows 45; $2" /dev/null >"$E2E_TMP/tty.raw" 2>&1
}
tty_out() { OUT=$(tr -d '\r' <"$E2E_TMP/tty.raw"); }

pod() { # pod NAME RESTARTPOLICY EXTRA-CONTAINER-JSON COMMAND-JSON
    kc 1.33 apply -f - >/dev/null <<EOF
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$1"},"spec":{"nodeName":"$NODE",
 "restartPolicy":"$2","terminationGracePeriodSeconds":1,
 "containers":[{"name":"c","image":"busybox","imagePullPolicy":"IfNotPresent",$3
  "command":$4}]}}
EOF
}

STTY='["sh","-c","ln -sf /bin/busybox /bin/stty; exec sh"]'
pod catp Always '"stdin":true,' '["cat"]'
pod sh-127 Never '"stdin":true,"tty":true,' "$STTY"
pod sh-133 Never '"stdin":true,"tty":true,' "$STTY"
for p in catp sh-127 sh-133; do wait_for "$p" '{.status.phase}' '^Running$' 60; done

attach_stdin_to_cat() {
    local v
    for v in 1.27 1.33; do
        (sleep 1; echo "first-$v"; sleep 1; echo "second-$v"; sleep 2) |
            kt 15 "$v" attach -i catp -c c >"$E2E_TMP/cat-$v" 2>&1
        grep -qx "first-$v" "$E2E_TMP/cat-$v" && grep -qx "second-$v" "$E2E_TMP/cat-$v" ||
            { cat "$E2E_TMP/cat-$v" >&2; fail "attach -i output (kubectl $v)"; }
        kc 1.33 logs catp | grep -qx "second-$v" || fail "not in the log (kubectl $v)"
    done
    # without stdinOnce the container's stdin stays open after the attaches end
    sleep 1
    [[ $(kc 1.33 get pod catp -o jsonpath='{.status.containerStatuses[0].state.running}') ]] ||
        fail "cat ended: $(kc 1.33 get pod catp -o jsonpath='{.status.containerStatuses[0].state}')"
}

attach_tty_runs_a_command() {
    local v
    for v in 1.27 1.33; do
        (sleep 2; echo 'stty size; tty >/dev/null && echo is-a-tty; echo sum-$((6*7))'; sleep 2
         echo 'exit 7') |
            in_tty 30 "$KUBECTL_DIR/kubectl.$v --kubeconfig $DATA/server/admin.kubeconfig attach -it sh-${v/./} -c c"
        tty_out
        [[ $OUT =~ (^|$'\n'|# )45\ 123$'\n' ]] || fail "stty size through attach -it ($v): $OUT"
        [[ $OUT == *$'\nis-a-tty\n'* || $OUT == *'# is-a-tty'* ]] || fail "no terminal ($v): $OUT"
        [[ $OUT == *sum-42* ]] || fail "command output ($v): $OUT"
        wait_for "sh-${v/./}" '{.status.containerStatuses[0].state.terminated.exitCode}' '^7$'
        # the terminal's output is the container's log too (upstream logs a tty's output)
        kc 1.33 logs "sh-${v/./}" | tr -d '\r' | grep -q '^sum-42$' ||
            fail "log of the tty ($v): $(kc 1.33 logs "sh-${v/./}")"
    done
}

run_i_rm_prints_and_deletes() {
    local v
    for v in 1.27 1.33; do
        echo "hello-$v" | kt 60 "$v" run "r-${v/./}" -i --rm --restart=Never --image=busybox \
            --image-pull-policy=IfNotPresent -- sh -c 'read x; echo got-$x' >"$E2E_TMP/run-$v" 2>&1
        RC=$?
        expect_rc 0 "kubectl $v run -i --rm"
        expect_grep "$E2E_TMP/run-$v" "^got-hello-$v$"
        expect_grep "$E2E_TMP/run-$v" "pod \"r-${v/./}\" deleted"
        ! kc 1.33 get pod "r-${v/./}" >/dev/null 2>&1 || fail "pod r-${v/./} still there"
    done
}

run_it_rm_shell() {
    local v=1.33
    (sleep 3; echo 'echo sum-$((6*7)); exit 3') |
        in_tty 60 "$KUBECTL_DIR/kubectl.$v --kubeconfig $DATA/server/admin.kubeconfig run rt -it --rm --restart=Never --image=busybox --image-pull-policy=IfNotPresent -- sh"
    tty_out
    [[ $OUT == *sum-42* ]] || fail "run -it output: $OUT"
    [[ $OUT == *'pod "rt" deleted'* ]] || fail "run -it --rm did not delete: $OUT"
    ! kc 1.33 get pod rt >/dev/null 2>&1 || fail "pod rt still there"
}

t "attach -i sends lines to cat and reads them back (kubectl 1.27, 1.33)" attach_stdin_to_cat
t "attach -it runs a command in a tty container's shell, with its size" attach_tty_runs_a_command
t "kubectl run -i --rm --restart=Never prints the output and deletes the pod" run_i_rm_prints_and_deletes
t "kubectl run -it --rm runs a shell" run_it_rm_shell
