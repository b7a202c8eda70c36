/* sched_bench: time to schedule PODS pods on NODES nodes with the pure scheduler core (filters,
 * scores, assume), no API: the scheduling algorithm's own cost. */
#include "../bench.h"
#include "scheduler/scheduler.h"

#include <stdio.h>
#include <string.h>

static cJSON *node(int i, int zones)
{
    char buf[1024];
    snprintf(buf, sizeof(buf),
             "{\"metadata\":{\"name\":\"node-%03d\",\"labels\":{\"kubernetes.io/hostname\":"
             "\"node-%03d\",\"topology.kubernetes.io/zone\":\"zone-%d\"}},\"spec\":{},"
             "\"status\":{\"allocatable\":{\"cpu\":\"16\",\"memory\":\"64Gi\",\"pods\":\"110\"},"
             "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],\"images\":[{\"names\":"
             "[\"docker.io/library/app%d:1\"],\"sizeBytes\":300000000}]}}",
             i, i, i % zones, i % 10);
    return cJSON_Parse(buf);
}

/* Pods of 10 ReplicaSets (with a Service each); anti: required anti-affinity per hostname
 * within the ReplicaSet, as spreading Deployments often have. */
static cJSON *pod(int i, bool anti)
{
    char buf[2048], aff[512] = "";
    int rs = i % 10;
    if (anti)
        snprintf(aff, sizeof(aff),
                 ",\"affinity\":{\"podAntiAffinity\":{\"requiredDuringSchedulingIgnoredDuring"
                 "Execution\":[{\"labelSelector\":{\"matchLabels\":{\"app\":\"app%d\"}},"
                 "\"topologyKey\":\"kubernetes.io/hostname\"}]}}",
                 rs);
    snprintf(buf, sizeof(buf),
             "{\"metadata\":{\"name\":\"pod-%04d\",\"namespace\":\"default\",\"labels\":"
             "{\"app\":\"app%d\"},\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":"
             "\"rs%d\",\"uid\":\"uid-rs%d\",\"controller\":true}]},\"spec\":{\"containers\":"
             "[{\"name\":\"c\",\"image\":\"app%d:1\",\"resources\":{\"requests\":{\"cpu\":"
             "\"%dm\",\"memory\":\"%dMi\"}}}]%s}}",
             i, rs, rs, rs, rs, 100 + (i % 5) * 100, 128 + (i % 4) * 128, aff);
    return cJSON_Parse(buf);
}

static void run(int nnodes, int npods, bool anti)
{
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    for (int i = 0; i < nnodes; i++) {
        cJSON *n = node(i, 4);
        scheduler_snapshot_set_node(s, n, NULL);
        cJSON_Delete(n);
    }
    for (int r = 0; r < 10; r++) {
        char buf[256];
        snprintf(buf, sizeof(buf),
                 "{\"kind\":\"Service\",\"metadata\":{\"name\":\"svc%d\",\"namespace\":"
                 "\"default\"},\"spec\":{\"selector\":{\"app\":\"app%d\"}}}",
                 r, r);
        cJSON *svc = cJSON_Parse(buf);
        scheduler_snapshot_set_object(s, svc, NULL);
        cJSON_Delete(svc);
    }
    scheduler_algo_t *a = scheduler_algo_new(1);
    uint64_t *lat = calloc((size_t)npods, sizeof(*lat));
    int placed = 0;
    uint64_t t0 = now_ns();
    for (int i = 0; i < npods; i++) {
        cJSON *p = pod(i, anti);
        uint64_t t = now_ns();
        scheduler_result_t r;
        scheduler_schedule(a, s, p, &r);
        if (r.scheduled) {
            scheduler_snapshot_assume(s, p, r.node, NULL);
            placed++;
        }
        lat[i] = now_ns() - t;
        scheduler_result_free(&r);
        cJSON_Delete(p);
    }
    double total = (double)(now_ns() - t0) / 1e9;
    printf("schedule %d pods on %d nodes%s: %.3f s, %.0f pods/s, p50 %.2f ms, p99 %.2f ms, "
           "placed %d\n",
           npods, nnodes, anti ? " (required anti-affinity)" : "", total, npods / total,
           pct_ms(lat, (size_t)npods, 0.5), pct_ms(lat, (size_t)npods, 0.99), placed);
    free(lat);
    scheduler_algo_free(a);
    scheduler_snapshot_free(s);
}

int main(int argc, char **argv)
{
    int nodes = argc > 1 ? atoi(argv[1]) : 100, pods = argc > 2 ? atoi(argv[2]) : 1000;
    run(nodes, pods, false);
    run(nodes, pods, true);
    return 0;
}
