"""sets_fake_kubelet: what test_sets.sh needs of kubelets and a volume binder, over the API.

   sets_fake_kubelet.py KUBECONFIG

Watches pods and PersistentVolumeClaims (python3-kubernetes):
- a pod with a deletionTimestamp is removed at once (grace period 0), as a kubelet finishing
  its containers would;
- a bound pod labelled fake-ready=auto is reported Running and Ready;
- a claim without spec.volumeName is given one (pv-<claim>), as a binder would.
Runs until killed."""
import datetime
import sys
import threading

from kubernetes import client, config, watch

config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ignore(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except client.ApiException:
        pass


def on_pod(pod):
    m = pod.metadata
    if m.deletion_timestamp:
        ignore(v1.delete_namespaced_pod, m.name, m.namespace, grace_period_seconds=0)
        return
    labels = m.labels or {}
    ready = any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))
    if labels.get("fake-ready") == "auto" and pod.spec.node_name and not ready:
        body = {"status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": now()}]}}
        ignore(v1.patch_namespaced_pod_status, m.name, m.namespace, body)


def on_pvc(pvc):
    if not pvc.spec.volume_name:
        body = {"spec": {"volumeName": "pv-" + pvc.metadata.name}}
        ignore(v1.patch_namespaced_persistent_volume_claim, pvc.metadata.name,
               pvc.metadata.namespace, body)


def loop(lister, handler):
    while True:
        try:
            for ev in watch.Watch().stream(lister, timeout_seconds=300):
                if ev["type"] in ("ADDED", "MODIFIED"):
                    handler(ev["object"])
        except Exception:  # the server restarts or a watch ends: watch again
            pass


threading.Thread(target=loop, args=(v1.list_persistent_volume_claim_for_all_namespaces, on_pvc),
                 daemon=True).start()
loop(v1.list_pod_for_all_namespaces, on_pod)
