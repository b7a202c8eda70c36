#!/usr/bin/python3
"""deploy.py KUBECONFIG KUBECTL REPLICAS IMAGE SERVER_PID: `kubectl apply` of a Deployment of
REPLICAS pods (one container each) and, from a pod watch opened beforehand, the time from the
apply to every pod Running; prints the total, pods/minute, when 10/50/90% were Running, and the
server's VmRSS sampled every 0.5 s during the run (peak), once all are Running (after 5 s) and
after the Deployment is deleted and its pods are gone. With CPU_CGROUPS (colon-separated cgroup
directories: the server's, with its shims, and the kubelet's cgroup root, with the containers),
the CPU they used from the apply to all Running and for the deletion, per pod: a figure that
does not depend on the machine's load. Also the server's CPU per thread name from the apply to
all Running, in % of one core (a thread near 100% is the bound)."""
import os
import subprocess
import sys
import threading
import time

from kubernetes import client, config, watch

kcfg, kubectl, n, image, pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
config.load_kube_config(kcfg)
v1 = client.CoreV1Api()
running, added, bound = {}, {}, {}
ready = threading.Event()
samples = []
stop_sampling = threading.Event()


def rss_kib():
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_ns():
    """(user, system) nanoseconds used by the CPU_CGROUPS (cgroup v1 cpuacct or v2 cpu.stat)."""
    user = system = 0
    for d in filter(None, os.environ.get("CPU_CGROUPS", "").split(":")):
        try:
            if os.path.exists(d + "/cpuacct.usage_user"):
                user += int(open(d + "/cpuacct.usage_user").read())
                system += int(open(d + "/cpuacct.usage_sys").read())
            else:
                for line in open(d + "/cpu.stat"):
                    k, v = line.split()
                    if k == "user_usec":
                        user += int(v) * 1000
                    elif k == "system_usec":
                        system += int(v) * 1000
        except OSError:
            pass
    return user, system


def thread_cpu():
    """{(name, tid): CPU seconds} of the server's threads (utime + stime, /proc/PID/task/*/stat)."""
    out, tck = {}, os.sysconf("SC_CLK_TCK")
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            st = open("/proc/%d/task/%s/stat" % (pid, tid)).read()
        except OSError:
            continue
        f = st[st.rindex(")") + 2:].split()
        out[(st[st.index("(") + 1:st.rindex(")")], tid)] = (int(f[11]) + int(f[12])) / tck
    return out


def threads_line(what, before, after, secs):
    """The CPU of each thread name (summed over its threads) in % of one core over secs."""
    by = {}
    for k, v in after.items():
        c, cnt = by.get(k[0], (0.0, 0))
        by[k[0]] = (c + v - before.get(k, 0.0), cnt + 1)
    parts = ["%s%s %.0f%%" % (name, " x%d" % cnt if cnt > 1 else "", c * 100 / secs)
             for name, (c, cnt) in sorted(by.items(), key=lambda x: -x[1][0]) if c > 0]
    return "threads %s (%% of one core over %.1f s): %s" % (what, secs, ", ".join(parts))


def cpu_line(what, before, after, pods):
    u, s = (after[0] - before[0]) / 1e9, (after[1] - before[1]) / 1e9
    return "CPU %s: %.1f s user + %.1f s system = %.1f ms per pod" % (what, u, s, (u + s) * 1000 / pods)


def sampler():
    while not stop_sampling.wait(0.5):
        samples.append(rss_kib())


def watcher():
    w = watch.Watch()
    first = True
    for ev in w.stream(v1.list_namespaced_pod, "default", label_selector="app=deploy-bench",
                       timeout_seconds=1200, _request_timeout=1300):
        if first:
            ready.set()
            first = False
        p = ev["object"]
        name = p.metadata.name
        if ev["type"] == "DELETED":
            continue
        now = time.monotonic()
        added.setdefault(name, now)
        if p.spec.node_name:
            bound.setdefault(name, now)
        if p.status.phase == "Running" and name not in running:
            running[name] = now
            if len(running) == n:
                w.stop()


manifest = """{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"deploy-bench"},
"spec":{"replicas":%d,"selector":{"matchLabels":{"app":"deploy-bench"}},
"template":{"metadata":{"labels":{"app":"deploy-bench"}},"spec":{
"terminationGracePeriodSeconds":1,
"containers":[{"name":"c","image":"%s","imagePullPolicy":"IfNotPresent"}]}}}}""" % (n, image)

rss_idle = rss_kib()
t = threading.Thread(target=watcher, daemon=True)
t.start()
ready.wait(5.0)
threading.Thread(target=sampler, daemon=True).start()
cpu0, thr0 = cpu_ns(), thread_cpu()
start = time.monotonic()
subprocess.run([kubectl, "--kubeconfig", kcfg, "apply", "-f", "-"], input=manifest.encode(),
               check=True, stdout=subprocess.DEVNULL)
applied = time.monotonic()
t.join(1200)
cpu1, thr1 = cpu_ns(), thread_cpu()
stop_sampling.set()
if len(running) < n:
    print("only %d of %d pods Running after %.0f s" % (len(running), n, time.monotonic() - start))
    sys.exit(1)
times = sorted(v - start for v in running.values())
total = times[-1]
print("%d replicas: kubectl apply returned after %.2f s; all Running after %.2f s = %.0f pods/min"
      % (n, applied - start, total, n / total * 60))
for what, d in (("created (watch ADDED)", added), ("bound (spec.nodeName)", bound),
                ("Running", running)):
    v = sorted(x - start for x in d.values())
    print("%-22s 50%% after %.2f s, all %d after %.2f s" % (what, v[len(v) // 2], len(v), v[-1]))
if os.environ.get("CPU_CGROUPS"):
    print(cpu_line("apply -> all Running", cpu0, cpu1, n))
print(threads_line("apply -> all Running", thr0, thr1, total))
print("load average at the end: %s" % open("/proc/loadavg").read().strip())
time.sleep(5)
rss_running = rss_kib()
print("server RSS: %d KiB before, peak %d KiB during, %d KiB with all %d Running (5 s later)"
      % (rss_idle, max(samples) if samples else 0, rss_running, n))
t0 = time.monotonic()
cpu2 = cpu_ns()
subprocess.run([kubectl, "--kubeconfig", kcfg, "delete", "deployment", "deploy-bench", "--wait=false"],
               check=True, stdout=subprocess.DEVNULL)
deadline = time.monotonic() + 600
left = n
while time.monotonic() < deadline:
    left = len(v1.list_namespaced_pod("default", label_selector="app=deploy-bench").items)
    if left == 0:
        break
    time.sleep(1)
if os.environ.get("CPU_CGROUPS"):
    print(cpu_line("delete -> all gone", cpu2, cpu_ns(), n))
print("deleted: %d pods gone after %.1f s (%d left); server RSS after: %d KiB"
      % (n - left, time.monotonic() - t0, left, rss_kib()))
