"""hpa_fake_kubelet: what test_hpa.sh needs of a kubelet, over the API and a summary file.

   hpa_fake_kubelet.py KUBECONFIG SUMMARY_JSON LOAD_FILE

Every 0.3 s (python3-kubernetes): pods labelled app=web that are bound and not yet Running are
reported Running and Ready, started ten minutes ago (past the autoscaler's cpu initialization
period); pods being deleted are removed at once (grace period 0), as a kubelet finishing their
containers would; SUMMARY_JSON (which the fake kubelet API serves as /stats/summary) is written
with every Running pod of the node using LOAD_FILE's nanocores of cpu. Runs until killed."""
import datetime
import json
import os
import sys
import time

from kubernetes import client, config

config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
summary_path, load_path = sys.argv[2], sys.argv[3]


def ts(delta=0):
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=delta)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


while True:
    try:
        load = int(open(load_path).read().strip() or "0")
        pods = v1.list_namespaced_pod("default", label_selector="app=web").items
        entries = []
        for p in pods:
            m = p.metadata
            if m.deletion_timestamp:
                try:
                    v1.delete_namespaced_pod(m.name, "default", grace_period_seconds=0)
                except client.ApiException:
                    pass
                continue
            if not p.spec.node_name:
                continue
            if p.status.phase != "Running":
                body = {"status": {"phase": "Running", "startTime": ts(600), "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": ts(590)}]}}
                try:
                    v1.patch_namespaced_pod_status(m.name, "default", body)
                except client.ApiException:
                    pass
            entries.append({"podRef": {"name": m.name, "namespace": "default", "uid": m.uid},
                            "containers": [{"name": "c",
                                            "cpu": {"time": ts(), "usageNanoCores": load},
                                            "memory": {"time": ts(), "workingSetBytes": 1 << 20}}]})
        summary = {"node": {"nodeName": "edge1",
                            "cpu": {"time": ts(), "usageNanoCores": load * max(len(entries), 1)},
                            "memory": {"time": ts(), "workingSetBytes": 1 << 30}},
                   "pods": entries}
        tmp = summary_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(summary, f)
        os.rename(tmp, summary_path)
    except Exception as e:  # the server restarts: try again
        print("fake kubelet:", e, file=sys.stderr)
    time.sleep(0.3)
