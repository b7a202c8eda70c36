#!/usr/bin/python3
"""running.py KUBECONFIG NODE N IMAGE: creates N pods bound to NODE at once and prints, from a
watch, the time from each create call to the pod's phase Running (ms), then the time until
the last one (ms). Deletes them afterwards (grace 0 is not used: the kubelet's own path)."""
import sys
import threading
import time

from kubernetes import client, config, watch

kcfg, node, n, image = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
config.load_kube_config(kcfg)
v1 = client.CoreV1Api()
names = ["bench-%d" % i for i in range(n)]
created, running = {}, {}
ready = threading.Event()


def watcher():
    w = watch.Watch()
    first = True
    for ev in w.stream(v1.list_namespaced_pod, "default", timeout_seconds=120):
        if first:
            ready.set()
            first = False
        p = ev["object"]
        name = p.metadata.name
        if name in created and name not in running and p.status.phase == "Running":
            running[name] = time.monotonic()
            if len(running) == n:
                w.stop()


t = threading.Thread(target=watcher)
t.start()
# the watch is open once the first (initial list) event or a short wait has passed
ready.wait(1.0)
start = time.monotonic()
for name in names:
    body = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1,
                 "containers": [{"name": "c", "image": image, "imagePullPolicy": "IfNotPresent"}]},
    }
    created[name] = time.monotonic()
    v1.create_namespaced_pod("default", body)
t.join()
per = sorted((running[x] - created[x]) * 1000 for x in names)
print("per-pod create->Running ms: min %.0f median %.0f max %.0f" % (per[0], per[len(per) // 2], per[-1]))
print("all %d Running after %.0f ms" % (n, (max(running.values()) - start) * 1000))
for name in names:
    v1.delete_namespaced_pod(name, "default")
