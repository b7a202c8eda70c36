/* fuzz_scheduler: libFuzzer target for hostile API objects reaching the scheduler: the input
 * is parsed as a quantity, then as a JSON array of Nodes, bound Pods and other objects whose
 * last element is the pod to schedule (filters, scores, summary, queue, API objects). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quantity/quantity.h"
#include "scheduler/scheduler.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void feed(scheduler_snapshot_t *s, const cJSON *o)
{
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
    const char *k = cJSON_IsString(kind) ? kind->valuestring : "";
    if (strcmp(k, "Node") == 0)
        scheduler_snapshot_set_node(s, o, NULL);
    else if (strcmp(k, "Pod") == 0)
        scheduler_snapshot_set_pod(s, o, NULL);
    else
        scheduler_snapshot_set_object(s, o, NULL);
}

static void schedule(scheduler_snapshot_t *s, const cJSON *pod)
{
    scheduler_algo_t *a = scheduler_algo_new(1);
    scheduler_result_t r;
    scheduler_schedule(a, s, pod, &r);
    if (r.scheduled)
        scheduler_snapshot_assume(s, pod, r.node, NULL);
    cJSON *b = scheduler_binding_json(pod, r.node ? r.node : "n");
    cJSON *p = scheduler_unschedulable_patch_json(pod, r.message ? r.message : "", 0);
    cJSON *e = scheduler_event_json(pod, r.node, r.message, 0);
    cJSON_Delete(b);
    cJSON_Delete(p);
    cJSON_Delete(e);
    scheduler_result_free(&r);
    scheduler_algo_free(a);
    scheduler_queue_t *q = scheduler_queue_new();
    scheduler_queue_add(q, pod, scheduler_pod_priority(s, pod), 0);
    const cJSON *x = scheduler_queue_pop(q, 0);
    if (x)
        scheduler_queue_done(q, x, SCHEDULER_ATTEMPT_UNSCHEDULABLE, 0);
    scheduler_queue_move_all(q, SCHEDULER_EVENT_NODE_ADD, 1);
    scheduler_queue_free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    quantity_t q;
    if (quantity_parse(text, &q) == 0) {
        (void)quantity_scaled(&q, 0);
        (void)quantity_scaled(&q, 3);
        (void)quantity_scaled(&q, -9);
    }
    cJSON *arr = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) {
        cJSON_Delete(arr);
        return 0;
    }
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    const cJSON *o, *last = NULL;
    cJSON_ArrayForEach(o, arr)
    {
        if (o->next)
            feed(s, o);
        last = o;
    }
    scheduler_resources_t r;
    scheduler_pod_requests(last, false, &r);
    scheduler_pod_requests(last, true, &r);
    schedule(s, last);
    scheduler_snapshot_free(s);
    cJSON_Delete(arr);
    return 0;
}
