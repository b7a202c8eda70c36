#!/usr/bin/env bash
# bench/quota/run.sh: what ResourceQuota admission costs a create. Starts the release build's
# `kubeling server` (no agent) and creates N configmaps from 8 threads of python3-kubernetes in
# a namespace without a quota, then in one with a quota (count/configmaps and configmaps with
# room for all of them) and a second quota that does not count configmaps; prints creates/s and
# the median latency of each. ROUNDS (default 3) repetitions.
set -euo pipefail
BIN=${KUBELING_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/static-x86_64/kubeling}
N=${N:-400}
ROUNDS=${ROUNDS:-3}
TMP=$(mktemp -d /tmp/kubeling-bench-quota.XXXXXX)
"$BIN" server --data-dir "$TMP/data" --https-listen-port 0 --bind-address 127.0.0.1 \
    --disable-agent >"$TMP/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 200); do grep -q 'ready; admin kubeconfig' "$TMP/server.log" && break; sleep 0.05; done
/usr/bin/python3 - "$TMP/data/server/admin.kubeconfig" "$N" "$ROUNDS" <<'PY'
import sys, time, statistics, concurrent.futures
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
n, rounds = int(sys.argv[2]), int(sys.argv[3])
v1 = client.CoreV1Api()
def run(ns):
    lat = []
    def one(i):
        t = time.monotonic()
        v1.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c%d" % i)))
        lat.append(time.monotonic() - t)
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(one, range(n)))
    return n / (time.monotonic() - t0), statistics.median(lat) * 1000
for r in range(rounds):
    for quota in (False, True):
        ns = "b%d%s" % (r, "q" if quota else "")
        v1.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
        if quota:
            v1.create_namespaced_resource_quota(ns, client.V1ResourceQuota(
                metadata=client.V1ObjectMeta(name="q"),
                spec=client.V1ResourceQuotaSpec(hard={"configmaps": str(n + 10), "count/configmaps": str(n + 10)})))
            v1.create_namespaced_resource_quota(ns, client.V1ResourceQuota(
                metadata=client.V1ObjectMeta(name="pods"), spec=client.V1ResourceQuotaSpec(hard={"pods": "10"})))
        rate, med = run(ns)
        print("round %d %-9s %6.0f creates/s, median %.1f ms" % (r, "quota" if quota else "no quota", rate, med))
PY
