#!/usr/bin/python3
"""running.py KUBECONFIG NODE N IMAGE RATE BIND SERVER_PID BIN: creates N pods and prints, from a
watch, the time from each create call to the first event with phase Running (ms): p50, p99, min,
max, and the time until the last one. RATE: pods created per second (0: all at once, one after
another as fast as the API answers). BIND: "node" (spec.nodeName set: the kubelet alone) or
"scheduler" (no nodeName: the scheduler binds them). Once all are Running: VmRSS of the server
process SERVER_PID (apiserver, controllers, scheduler and the kubelet are one process) and of
every shim (processes of BIN whose first argument is "shim"). Deletes the pods afterwards
(graceful: the kubelet's own path) and waits until they are gone."""
import os
import sys
import threading
import time

from kubernetes import client, config, watch

kcfg, node, n, image = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
rate, bind, server_pid, binpath = float(sys.argv[5]), sys.argv[6], int(sys.argv[7]), sys.argv[8]
config.load_kube_config(kcfg)
v1 = client.CoreV1Api()
names = ["bench-%d" % i for i in range(n)]
created, running = {}, {}
ready = threading.Event()


def watcher():
    w = watch.Watch()
    first = True
    for ev in w.stream(v1.list_namespaced_pod, "default", timeout_seconds=600):
        if first:
            ready.set()
            first = False
        p = ev["object"]
        name = p.metadata.name
        if name in created and name not in running and p.status.phase == "Running":
            running[name] = time.monotonic()
            if len(running) == n:
                w.stop()


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def shims():
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
            exe = os.readlink("/proc/%s/exe" % d)
        except OSError:
            continue
        if len(argv) > 1 and argv[1] == b"shim" and exe == binpath:
            out.append(int(d))
    return out


def pct(v, q):
    return v[min(len(v) - 1, int(q * len(v)))]


t = threading.Thread(target=watcher)
t.start()
ready.wait(2.0)
rss_before = rss_kib(server_pid)
start = time.monotonic()
for i, name in enumerate(names):
    if rate > 0:
        due = start + i / rate
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
    spec = {"terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": image, "imagePullPolicy": "IfNotPresent"}]}
    if bind == "node":
        spec["nodeName"] = node
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
    created[name] = time.monotonic()
    v1.create_namespaced_pod("default", body)
t.join()
if len(running) < n:
    print("only %d of %d pods Running before the watch ended" % (len(running), n))
    sys.exit(1)
per = sorted((running[x] - created[x]) * 1000 for x in names)
print("bind=%s rate=%s/s: per-pod create->Running ms: p50 %.0f p99 %.0f min %.0f max %.0f"
      % (bind, rate if rate > 0 else "all-at-once", pct(per, 0.5), pct(per, 0.99), per[0], per[-1]))
print("all %d Running after %.0f ms (first create to last Running)"
      % (n, (max(running.values()) - start) * 1000))
time.sleep(1.0)  # let status patches and events settle before sampling memory
rss_after = rss_kib(server_pid)
sr = sorted(x for x in (rss_kib(p) for p in shims()) if x is not None)
print("server RSS: %s KiB before the pods, %s KiB with %d running (loadavg %s)"
      % (rss_before, rss_after, n, open("/proc/loadavg").read().split(" ")[0]))
if sr:
    print("shim RSS (%d shims): median %d KiB, max %d KiB, total %d KiB"
          % (len(sr), pct(sr, 0.5), sr[-1], sum(sr)))
for name in names:
    v1.delete_namespaced_pod(name, "default")
deadline = time.monotonic() + 300
while time.monotonic() < deadline:
    if not v1.list_namespaced_pod("default").items:
        break
    time.sleep(0.2)
