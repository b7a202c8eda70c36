"""sched_api.py: the API side of bench/controllers/run.sh (python3-kubernetes).

   sched_api.py fill KUBECONFIG NODES PODS    Node objects and pending pods, 16 threads
   sched_api.py wait KUBECONFIG PODS READY_EPOCH STARTUP_S ROUND
                                             watches bindings until every pod is bound"""
import sys
import threading
import time

from kubernetes import client, config, watch

config.load_kube_config(sys.argv[2])
v1 = client.CoreV1Api()


def fill(nodes, pods):
    for i in range(nodes):
        name = "sim-%03d" % i
        v1.create_node({"metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "topology.kubernetes.io/zone": "zone-%d" % (i % 4)}}})
        v1.patch_node_status(name, {"status": {
            "capacity": {"cpu": "16", "memory": "64Gi", "pods": "110"},
            "allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "simulated"}]}})

    def worker(k):
        for j in range(k, pods, 16):
            body = {"metadata": {"name": "p-%05d" % j, "labels": {"app": "a%d" % (j % 10)}},
                    "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {
                        "requests": {"cpu": "100m", "memory": "128Mi"}}}]}}
            for _ in range(5):
                try:
                    v1.create_namespaced_pod("default", body)
                    break
                except client.ApiException as e:
                    if e.status != 429:
                        raise
                    time.sleep(0.1)
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def wait(pods, ready, startup, rnd):
    lst = v1.list_namespaced_pod("default", limit=0)
    bound = {p.metadata.name for p in lst.items if p.spec.node_name}
    times = []
    rv = lst.metadata.resource_version
    while len(bound) < pods:
        for ev in watch.Watch().stream(v1.list_namespaced_pod, "default", resource_version=rv,
                                       timeout_seconds=120):
            p = ev["object"]
            rv = p.metadata.resource_version
            if p.spec.node_name and p.metadata.name not in bound:
                bound.add(p.metadata.name)
                times.append(time.time())
                if len(bound) >= pods:
                    break
    end = time.time()
    n = len(times)
    mid = ""
    if n >= 20:
        a, b = times[n // 20], times[n - 1 - n // 20]
        mid = ", middle 90%%: %.0f pods/s" % ((n - 2 * (n // 20) - 1) / (b - a)) if b > a else ""
    first = " first binding %.2f s after ready;" % (times[0] - ready) if times else ""
    print("round %s: %d pods bound %.2f s after the server was ready (%.0f pods/s%s);%s "
          "server start %.3f s; %d already bound at the first list" %
          (rnd, pods, end - ready, pods / (end - ready), mid, first, startup, pods - n))


if sys.argv[1] == "fill":
    fill(int(sys.argv[3]), int(sys.argv[4]))
else:
    wait(int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6])
