/* test_scheduler: quantities, pod requests, each filter and score against upstream's behaviour,
 * FailedScheduling summaries, the scheduling queue and the driver. */
#include "unit.h"
#include "quantity/quantity.h"
#include "scheduler/scheduler.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

/* ---- helpers --------------------------------------------------------------------------------- */

/* JSON from a printf format written with single quotes (no quotes in the values). */
static cJSON *J(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static cJSON *J(const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof(buf));
    for (char *p = buf; *p; p++)
        if (*p == '\'')
            *p = '"';
    cJSON *j = cJSON_Parse(buf);
    if (!j)
        fail_msg("bad JSON in test: %s", buf);
    return j;
}

/* A Ready node with allocatable cpu/memory and 110 pods; labels and spec are JSON members. */
static cJSON *node_json(const char *name, const char *cpu, const char *mem, const char *labels,
                        const char *spec)
{
    return J("{'kind':'Node','metadata':{'name':'%s','labels':{'kubernetes.io/hostname':'%s'%s%s}},"
             "'spec':{%s},'status':{'allocatable':{'cpu':'%s','memory':'%s','pods':'110'},"
             "'conditions':[{'type':'Ready','status':'True'}]}}",
             name, name, *labels ? "," : "", labels, spec, cpu, mem);
}

static void add_node(scheduler_snapshot_t *s, const char *name, const char *cpu, const char *mem,
                     const char *labels, const char *spec)
{
    cJSON *n = node_json(name, cpu, mem, labels, spec);
    assert_int_equal(scheduler_snapshot_set_node(s, n, NULL), 0);
    cJSON_Delete(n);
}

/* A pod with one container requesting cpu/mem ("" for none); extra spec and metadata
 * members. */
static cJSON *pod_json(const char *name, const char *cpu, const char *mem, const char *spec,
                       const char *meta)
{
    char req[256] = "";
    if (*cpu || *mem)
        snprintf(req, sizeof(req), "'resources':{'requests':{%s%s%s%s%s%s%s}},",
                 *cpu ? "'cpu':'" : "", cpu, *cpu ? "'" : "", *cpu && *mem ? "," : "",
                 *mem ? "'memory':'" : "", mem, *mem ? "'" : "");
    return J("{'kind':'Pod','metadata':{'name':'%s','namespace':'default','uid':'uid-%s'%s%s},"
             "'spec':{'containers':[{'name':'c',%s'image':'app'}]%s%s}}",
             name, name, *meta ? "," : "", meta, req, *spec ? "," : "", spec);
}

/* Binds a pod to node in the snapshot. */
static void add_pod(scheduler_snapshot_t *s, const char *name, const char *node, const char *cpu,
                    const char *mem, const char *spec, const char *meta)
{
    cJSON *p = pod_json(name, cpu, mem, spec, meta);
    cJSON_AddItemToObject(cJSON_GetObjectItem(p, "spec"), "nodeName", cJSON_CreateString(node));
    assert_int_equal(scheduler_snapshot_set_pod(s, p, NULL), 0);
    cJSON_Delete(p);
}

static void expect_filter(scheduler_snapshot_t *s, const cJSON *pod, const char *node,
                          const char *want)
{
    char *got = scheduler_filter_node(s, pod, node);
    if (!want && got)
        fail_msg("%s: filtered with '%s', want pass", node, got);
    if (want && (!got || strcmp(got, want) != 0))
        fail_msg("%s: got '%s', want '%s'", node, got ? got : "(pass)", want);
    free(got);
}

static char *schedule_message(scheduler_snapshot_t *s, const cJSON *pod)
{
    scheduler_algo_t *a = scheduler_algo_new(1);
    scheduler_result_t r;
    scheduler_schedule(a, s, pod, &r);
    assert_false(r.scheduled);
    char *m = strdup(r.message);
    scheduler_result_free(&r);
    scheduler_algo_free(a);
    return m;
}

static char *schedule_node(scheduler_snapshot_t *s, const cJSON *pod, uint64_t seed)
{
    scheduler_algo_t *a = scheduler_algo_new(seed);
    scheduler_result_t r;
    scheduler_schedule(a, s, pod, &r);
    if (!r.scheduled)
        fail_msg("not scheduled: %s", r.message);
    char *n = strdup(r.node);
    scheduler_result_free(&r);
    scheduler_algo_free(a);
    return n;
}

/* ---- quantities ------------------------------------------------------------------------------ */

static int64_t qv(const char *s, int scale)
{
    quantity_t q;
    if (quantity_parse(s, &q) < 0)
        fail_msg("quantity_parse(%s) failed", s);
    return quantity_scaled(&q, scale);
}

static void test_quantity_values(void **state)
{
    (void)state;
    assert_int_equal(qv("1", 3), 1000);
    assert_int_equal(qv("100m", 3), 100);
    assert_int_equal(qv("0.5", 3), 500);
    assert_int_equal(qv(".5", 3), 500);
    assert_int_equal(qv("1.5", 0), 2); /* Value() rounds up */
    assert_int_equal(qv("1Ki", 0), 1024);
    assert_int_equal(qv("1.5Gi", 0), 1610612736);
    assert_int_equal(qv("128Mi", 0), 134217728);
    assert_int_equal(qv("1k", 0), 1000);
    assert_int_equal(qv("2M", 0), 2000000);
    assert_int_equal(qv("1G", 0), 1000000000);
    assert_int_equal(qv("1T", 0), 1000000000000LL);
    assert_int_equal(qv("1E", 0), 1000000000000000000LL);
    assert_int_equal(qv("1e3", 0), 1000);
    assert_int_equal(qv("1E3", 0), 1000);
    assert_int_equal(qv("1.5e-3", 3), 2); /* 1.5m rounds up to 2m */
    assert_int_equal(qv("1n", 3), 1);     /* upstream: MilliValue of 1n is 1 */
    assert_int_equal(qv("1u", 0), 1);
    assert_int_equal(qv("+2", 0), 2);
    assert_int_equal(qv("0", 3), 0);
    assert_int_equal(qv("000100m", 3), 100);
    assert_int_equal(qv("0.000000001", 0), 1);
}

static void test_quantity_hostile(void **state)
{
    (void)state;
    static const char *const bad[] = {"",    "m",  "Ki",    "1KiB", "1K",  "1.2.3", " 1",
                                      "1 ",  "1e", "1e+",   "--1",  "1mm", "0x10",  "1Mi1",
                                      "abc", ".",  "1e3.5", "NaN",  "Inf", "1,5"};
    quantity_t q;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (quantity_parse(bad[i], &q) != -EINVAL)
            fail_msg("'%s' parsed", bad[i]);
    assert_int_equal(quantity_parse(NULL, &q), -EINVAL);
    char longtext[QUANTITY_MAX_LEN + 2];
    memset(longtext, '1', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = '\0';
    assert_int_equal(quantity_parse(longtext, &q), -EINVAL);
    /* huge values saturate */
    assert_int_equal(qv("99999999999999999999999", 0), INT64_MAX);
    assert_int_equal(qv("1e100000000", 3), INT64_MAX);
    assert_int_equal(qv("8Ei", 0), INT64_MAX);
    assert_int_equal(qv("7Ei", 0), 8070450532247928832LL);
    assert_int_equal(qv("9223372036854775807", 0), INT64_MAX);
    assert_int_equal(qv("9223372036854775807", 3), INT64_MAX);
    assert_int_equal(qv("-1e30", 0), INT64_MIN);
    assert_int_equal(qv("1e-100000000", 3), 1); /* tiny positive rounds up */
    /* many significant digits: exact enough, rounding up */
    assert_int_equal(qv("1.0000000000000000000000000000000000000000001", 0), 2);
    assert_int_equal(qv("-1.5", 0), -1); /* toward +infinity, like upstream */
    assert_int_equal(qv("-100m", 3), -100);
    assert_int_equal(quantity_parse_value("garbage", 3, -7), -7);
}

/* ---- requests -------------------------------------------------------------------------------- */

static void test_requests_init_containers(void **state)
{
    (void)state;
    scheduler_resources_t r;
    /* app: 100m+200m = 300m; init: 500m and 100m -> max(300m, 500m) = 500m; memory: limits as
     * requests (1Gi) vs init 512Mi; overhead adds 10m and 10Mi. */
    cJSON *pod =
        J("{'metadata':{'name':'p'},'spec':{"
          "'containers':[{'name':'a','resources':{'requests':{'cpu':'100m'},"
          "'limits':{'memory':'1Gi'}}},{'name':'b','resources':{'requests':{'cpu':'200m'}}}],"
          "'initContainers':[{'name':'i1','resources':{'requests':{'cpu':'500m',"
          "'memory':'512Mi'}}},{'name':'i2','resources':{'limits':{'cpu':'100m'}}}],"
          "'overhead':{'cpu':'10m','memory':'10Mi'}}}");
    scheduler_pod_requests(pod, false, &r);
    assert_int_equal(r.milli_cpu, 510);
    assert_int_equal(r.memory, 1024LL * 1024 * 1024 + 10 * 1024 * 1024);
    assert_int_equal(r.pods, 1);
    /* non-zero (scoring) defaults: container b has no memory -> 200Mi */
    scheduler_pod_requests(pod, true, &r);
    assert_int_equal(r.memory, 1024LL * 1024 * 1024 + 200LL * 1024 * 1024 + 10 * 1024 * 1024);
    cJSON_Delete(pod);

    /* A sidecar (restartPolicy Always) runs with everything after it: 300m app + 50m sidecar;
     * a later init container sees 400m + 50m. */
    pod = J("{'metadata':{'name':'p'},'spec':{"
            "'containers':[{'name':'a','resources':{'requests':{'cpu':'300m'}}}],"
            "'initContainers':[{'name':'s','restartPolicy':'Always','resources':{'requests':"
            "{'cpu':'50m'}}},{'name':'i','resources':{'requests':{'cpu':'400m'}}}]}}");
    scheduler_pod_requests(pod, false, &r);
    assert_int_equal(r.milli_cpu, 450);
    cJSON_Delete(pod);

    /* Hostile: negative, garbage and huge requests never go negative or wrap. */
    pod = J("{'metadata':{'name':'p'},'spec':{'containers':["
            "{'name':'a','resources':{'requests':{'cpu':'-5','memory':'lots'}}},"
            "{'name':'b','resources':{'requests':{'cpu':'9e18','memory':'8Ei'}}},"
            "{'name':'c','resources':{'requests':{'cpu':'9e18','memory':'8Ei'}}}]}}");
    scheduler_pod_requests(pod, false, &r);
    assert_int_equal(r.milli_cpu, INT64_MAX);
    assert_int_equal(r.memory, INT64_MAX);
    cJSON_Delete(pod);
}

/* ---- filters --------------------------------------------------------------------------------- */

static void test_filter_unschedulable_and_not_ready(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    add_node(s, "cordoned", "4", "8Gi", "", "'unschedulable':true");
    cJSON *nr =
        J("{'metadata':{'name':'notready'},'status':{'allocatable':{'cpu':'4',"
          "'memory':'8Gi','pods':'110'},'conditions':[{'type':'Ready','status':'False'}]}}");
    cJSON *unk =
        J("{'metadata':{'name':'unknown'},'status':{'allocatable':{'cpu':'4',"
          "'memory':'8Gi','pods':'110'},'conditions':[{'type':'Ready','status':'Unknown'}]}}");
    scheduler_snapshot_set_node(s, nr, NULL);
    scheduler_snapshot_set_node(s, unk, NULL);
    cJSON *pod = pod_json("p", "100m", "", "", "");
    expect_filter(s, pod, "cordoned", "node(s) were unschedulable");
    expect_filter(s, pod, "notready",
                  "node(s) had untolerated taint {node.kubernetes.io/not-ready: }");
    expect_filter(s, pod, "unknown",
                  "node(s) had untolerated taint {node.kubernetes.io/unreachable: }");
    cJSON *tol = pod_json("t", "100m", "",
                          "'tolerations':[{'key':'node.kubernetes.io/unschedulable','operator':"
                          "'Exists','effect':'NoSchedule'},{'key':'node.kubernetes.io/not-ready',"
                          "'operator':'Exists'}]",
                          "");
    expect_filter(s, tol, "cordoned", NULL);
    expect_filter(s, tol, "notready", NULL);
    cJSON_Delete(pod);
    cJSON_Delete(tol);
    cJSON_Delete(nr);
    cJSON_Delete(unk);
    scheduler_snapshot_free(s);
}

static void test_filter_taints(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    add_node(s, "cp", "4", "8Gi", "",
             "'taints':[{'key':'node-role.kubernetes.io/control-plane','effect':'NoSchedule'}]");
    add_node(s, "gpu", "4", "8Gi", "",
             "'taints':[{'key':'gpu','value':'true','effect':'NoExecute'},"
             "{'key':'soft','effect':'PreferNoSchedule'}]");
    add_node(s, "soft", "4", "8Gi", "", "'taints':[{'key':'soft','effect':'PreferNoSchedule'}]");
    cJSON *pod = pod_json("p", "", "", "", "");
    expect_filter(s, pod, "cp",
                  "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }");
    expect_filter(s, pod, "gpu", "node(s) had untolerated taint {gpu: true}");
    expect_filter(s, pod, "soft", NULL); /* PreferNoSchedule only scores */
    cJSON *eq = pod_json("eq", "", "", "'tolerations':[{'key':'gpu','value':'true'}]", "");
    cJSON *wrongval = pod_json("w", "", "", "'tolerations':[{'key':'gpu','value':'false'}]", "");
    cJSON *wrongeff = pod_json(
        "e", "", "", "'tolerations':[{'key':'gpu','operator':'Exists','effect':'NoSchedule'}]", "");
    cJSON *all = pod_json("a", "", "", "'tolerations':[{'operator':'Exists'}]", "");
    expect_filter(s, eq, "gpu", NULL);
    expect_filter(s, wrongval, "gpu", "node(s) had untolerated taint {gpu: true}");
    expect_filter(s, wrongeff, "gpu", "node(s) had untolerated taint {gpu: true}");
    expect_filter(s, all, "gpu", NULL);
    expect_filter(s, all, "cp", NULL);
    cJSON_Delete(pod);
    cJSON_Delete(eq);
    cJSON_Delete(wrongval);
    cJSON_Delete(wrongeff);
    cJSON_Delete(all);
    scheduler_snapshot_free(s);
}

static void test_filter_resources(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    add_node(s, "n1", "2", "4Gi", "", "");
    add_pod(s, "used", "n1", "1500m", "3Gi", "", "");
    cJSON *fits = pod_json("fits", "500m", "1Gi", "", "");
    cJSON *cpu = pod_json("cpu", "501m", "1Gi", "", "");
    cJSON *both = pod_json("both", "1", "2Gi", "", "");
    expect_filter(s, fits, "n1", NULL);
    expect_filter(s, cpu, "n1", "Insufficient cpu");
    expect_filter(s, both, "n1", "Insufficient cpu, Insufficient memory");
    /* removing the pod frees its requests */
    scheduler_snapshot_remove_pod(s, "default", "used");
    expect_filter(s, both, "n1", NULL);
    scheduler_resources_t r;
    assert_true(scheduler_snapshot_node_requested(s, "n1", &r));
    assert_int_equal(r.milli_cpu, 0);
    /* pods capacity */
    cJSON *small =
        J("{'metadata':{'name':'small'},'status':{'allocatable':{'cpu':'4',"
          "'memory':'8Gi','pods':'1'},'conditions':[{'type':'Ready','status':'True'}]}}");
    scheduler_snapshot_set_node(s, small, NULL);
    add_pod(s, "one", "small", "", "", "", "");
    expect_filter(s, fits, "small", "Too many pods");
    /* finished pods free their node */
    cJSON *done = pod_json("one", "", "", "'nodeName':'small'", "");
    cJSON_AddItemToObject(done, "status", J("{'phase':'Succeeded'}"));
    scheduler_snapshot_set_pod(s, done, NULL);
    expect_filter(s, fits, "small", NULL);
    cJSON_Delete(done);
    cJSON_Delete(small);
    cJSON_Delete(fits);
    cJSON_Delete(cpu);
    cJSON_Delete(both);
    scheduler_snapshot_free(s);
}

static void test_filter_node_affinity(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    add_node(s, "a", "4", "8Gi", "'disk':'ssd','cores':'8','topology.kubernetes.io/zone':'z1'", "");
    add_node(s, "b", "4", "8Gi", "'disk':'hdd','cores':'2'", "");
    const char *nomatch = "node(s) didn't match Pod's node affinity/selector";
    cJSON *sel = pod_json("sel", "", "", "'nodeSelector':{'disk':'ssd'}", "");
    expect_filter(s, sel, "a", NULL);
    expect_filter(s, sel, "b", nomatch);
    cJSON *gt =
        pod_json("gt", "", "",
                 "'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuringExecution':"
                 "{'nodeSelectorTerms':[{'matchExpressions':[{'key':'cores','operator':'Gt',"
                 "'values':['4']}]}]}}}",
                 "");
    expect_filter(s, gt, "a", NULL);
    expect_filter(s, gt, "b", nomatch);
    /* terms are ORed; expressions ANDed; NotIn holds for an absent key; matchFields by name */
    cJSON *terms = pod_json(
        "terms", "", "",
        "'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuringExecution':"
        "{'nodeSelectorTerms':[{'matchExpressions':[{'key':'disk','operator':'In','values':['nvme']"
        "}]},"
        "{'matchExpressions':[{'key':'gpu','operator':'NotIn','values':['x']},{'key':'disk',"
        "'operator':'Exists'}],'matchFields':[{'key':'metadata.name','operator':'In','values':['b']"
        "}]}]}}}",
        "");
    expect_filter(s, terms, "a", nomatch);
    expect_filter(s, terms, "b", NULL);
    cJSON *empty =
        pod_json("empty", "", "",
                 "'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuringExecution':"
                 "{'nodeSelectorTerms':[{}]}}}",
                 "");
    expect_filter(s, empty, "a", nomatch); /* an empty term matches nothing */
    cJSON_Delete(sel);
    cJSON_Delete(gt);
    cJSON_Delete(terms);
    cJSON_Delete(empty);
    scheduler_snapshot_free(s);
}

static void test_filter_ports(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    add_node(s, "n1", "4", "8Gi", "", "");
    cJSON *web = J("{'metadata':{'name':'web','namespace':'default'},'spec':{'nodeName':'n1',"
                   "'containers':[{'name':'c','ports':[{'containerPort':80,'hostPort':8080}]}]}}");
    scheduler_snapshot_set_pod(s, web, NULL);
    cJSON *same = J("{'metadata':{'name':'same'},'spec':{'containers':[{'name':'c','ports':"
                    "[{'containerPort':80,'hostPort':8080,'hostIP':'10.0.0.1'}]}]}}");
    cJSON *udp = J("{'metadata':{'name':'udp'},'spec':{'containers':[{'name':'c','ports':"
                   "[{'containerPort':80,'hostPort':8080,'protocol':'UDP'}]}]}}");
    cJSON *noport = J("{'metadata':{'name':'np'},'spec':{'containers':[{'name':'c','ports':"
                      "[{'containerPort':8080}]}]}}");
    expect_filter(s, same, "n1", "node(s) didn't have free ports for the requested pod ports");
    expect_filter(s, udp, "n1", NULL);
    expect_filter(s, noport, "n1", NULL);
    cJSON_Delete(web);
    cJSON_Delete(same);
    cJSON_Delete(udp);
    cJSON_Delete(noport);
    scheduler_snapshot_free(s);
}

#define AFF_TERM(kind, sel, key)                                                                  \
    "'affinity':{'" kind "':{'requiredDuringSchedulingIgnoredDuringExecution':[{'labelSelector':" \
    "{'matchLabels':{" sel "}},'topologyKey':'" key "'}]}}"

static void test_filter_inter_pod_affinity(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    add_node(s, "a1", "4", "8Gi", "'topology.kubernetes.io/zone':'za'", "");
    add_node(s, "a2", "4", "8Gi", "'topology.kubernetes.io/zone':'za'", "");
    add_node(s, "b1", "4", "8Gi", "'topology.kubernetes.io/zone':'zb'", "");
    add_node(s, "nozone", "4", "8Gi", "", "");
    add_pod(s, "db", "a1", "", "", "", "'labels':{'app':'db'}");

    cJSON *near_host =
        pod_json("nh", "", "", AFF_TERM("podAffinity", "'app':'db'", "kubernetes.io/hostname"), "");
    expect_filter(s, near_host, "a1", NULL);
    expect_filter(s, near_host, "a2", "node(s) didn't match pod affinity rules");
    cJSON *near_zone = pod_json(
        "nz", "", "", AFF_TERM("podAffinity", "'app':'db'", "topology.kubernetes.io/zone"), "");
    expect_filter(s, near_zone, "a2", NULL);
    expect_filter(s, near_zone, "b1", "node(s) didn't match pod affinity rules");
    expect_filter(s, near_zone, "nozone", "node(s) didn't match pod affinity rules");
    cJSON *away = pod_json(
        "aw", "", "", AFF_TERM("podAntiAffinity", "'app':'db'", "topology.kubernetes.io/zone"), "");
    expect_filter(s, away, "a2", "node(s) didn't match pod anti-affinity rules");
    expect_filter(s, away, "b1", NULL);
    expect_filter(s, away, "nozone", NULL);
    /* The first pod of a group whose affinity selects itself may go anywhere. */
    cJSON *first =
        pod_json("f", "", "", AFF_TERM("podAffinity", "'app':'web'", "kubernetes.io/hostname"),
                 "'labels':{'app':'web'}");
    expect_filter(s, first, "b1", NULL);
    cJSON *orphan =
        pod_json("o", "", "", AFF_TERM("podAffinity", "'app':'web'", "kubernetes.io/hostname"), "");
    expect_filter(s, orphan, "b1", "node(s) didn't match pod affinity rules");
    /* Another namespace's pods do not count unless listed. */
    cJSON *otherns =
        J("{'metadata':{'name':'x','namespace':'other'},'spec':{'containers':[]," AFF_TERM(
            "podAffinity", "'app':'db'", "kubernetes.io/hostname") "}}");
    expect_filter(s, otherns, "a1", "node(s) didn't match pod affinity rules");
    /* Existing pods' anti-affinity. */
    add_pod(s, "loner", "b1", "", "",
            AFF_TERM("podAntiAffinity", "'app':'web'", "topology.kubernetes.io/zone"),
            "'labels':{'app':'loner'}");
    cJSON *web = pod_json("w", "", "", "", "'labels':{'app':'web'}");
    expect_filter(s, web, "b1", "node(s) didn't satisfy existing pods anti-affinity rules");
    expect_filter(s, web, "a1", NULL);
    cJSON_Delete(near_host);
    cJSON_Delete(near_zone);
    cJSON_Delete(away);
    cJSON_Delete(first);
    cJSON_Delete(orphan);
    cJSON_Delete(otherns);
    cJSON_Delete(web);
    scheduler_snapshot_free(s);
}

static void test_filter_topology_spread(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    add_node(s, "a", "4", "8Gi", "'zone':'za'", "");
    add_node(s, "b", "4", "8Gi", "'zone':'zb'", "");
    add_node(s, "c", "4", "8Gi", "", "");
    add_pod(s, "w1", "a", "", "", "", "'labels':{'app':'w'}");
    add_pod(s, "w2", "a", "", "", "", "'labels':{'app':'w'}");
    cJSON *pod = pod_json("w3", "", "",
                          "'topologySpreadConstraints':[{'maxSkew':1,'topologyKey':'zone',"
                          "'whenUnsatisfiable':'DoNotSchedule','labelSelector':{'matchLabels':"
                          "{'app':'w'}}}]",
                          "'labels':{'app':'w'}");
    expect_filter(s, pod, "a", "node(s) didn't match pod topology spread constraints");
    expect_filter(s, pod, "b", NULL);
    expect_filter(s, pod, "c",
                  "node(s) didn't match pod topology spread constraints (missing required label)");
    add_pod(s, "w4", "b", "", "", "", "'labels':{'app':'w'}");
    /* za 2, zb 1: a gives skew 2+1-1 = 2 > 1, b gives 1 */
    expect_filter(s, pod, "a", "node(s) didn't match pod topology spread constraints");
    expect_filter(s, pod, "b", NULL);
    cJSON_Delete(pod);
    scheduler_snapshot_free(s);
}

static void test_filter_volumes(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    add_node(s, "a", "4", "8Gi", "", "");
    add_node(s, "b", "4", "8Gi", "", "");
    cJSON *pod = pod_json(
        "p", "", "", "'volumes':[{'name':'d','persistentVolumeClaim':{'claimName':'data'}}]", "");
    char *m = schedule_message(s, pod);
    assert_string_equal(m, "0/2 nodes are available: persistentvolumeclaim \"data\" not found. "
                           "preemption: 0/2 nodes are available: 2 Preemption is not helpful for "
                           "scheduling.");
    free(m);
    cJSON *pvc =
        J("{'kind':'PersistentVolumeClaim','metadata':{'name':'data','namespace':'default'},"
          "'spec':{}}");
    assert_int_equal(scheduler_snapshot_set_object(s, pvc, NULL), 0);
    m = schedule_message(s, pod);
    assert_string_equal(m, "0/2 nodes are available: pod has unbound immediate "
                           "PersistentVolumeClaims. preemption: 0/2 nodes are available: 2 "
                           "Preemption is not helpful for scheduling.");
    free(m);
    cJSON_Delete(pvc);
    pvc = J("{'kind':'PersistentVolumeClaim','metadata':{'name':'data','namespace':'default'},"
            "'spec':{'volumeName':'pv1'}}");
    cJSON *pv = J("{'kind':'PersistentVolume','metadata':{'name':'pv1'},'spec':{'nodeAffinity':"
                  "{'required':{'nodeSelectorTerms':[{'matchExpressions':[{'key':"
                  "'kubernetes.io/hostname','operator':'In','values':['b']}]}]}}}}");
    scheduler_snapshot_set_object(s, pvc, NULL);
    scheduler_snapshot_set_object(s, pv, NULL);
    expect_filter(s, pod, "a", "node(s) had volume node affinity conflict");
    expect_filter(s, pod, "b", NULL);
    cJSON *bad = J("{'kind':'ConfigMap','metadata':{'name':'x'}}");
    util_error_t err = NULL;
    assert_int_equal(scheduler_snapshot_set_object(s, bad, &err), -EINVAL);
    util_error_free(&err);
    cJSON_Delete(bad);
    cJSON_Delete(pvc);
    cJSON_Delete(pv);
    cJSON_Delete(pod);
    scheduler_snapshot_free(s);
}

/* ---- FailedScheduling summaries -------------------------------------------------------------- */

static void test_summary_mixes(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    add_node(s, "w", "2", "4Gi", "", "");
    add_pod(s, "big", "w", "1500m", "", "", "");
    const char *cp =
        "'taints':[{'key':'node-role.kubernetes.io/control-plane','effect':'NoSchedule'}]";
    add_node(s, "cp1", "8", "8Gi", "", cp);
    add_node(s, "cp2", "8", "8Gi", "", cp);
    /* Preemption could help on w (someone else uses its cpu) but not on tainted nodes. */
    cJSON *pod = pod_json("p", "1", "", "", "");
    char *m = schedule_message(s, pod);
    assert_string_equal(m, "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated "
                           "taint {node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes "
                           "are available: 1 No preemption victims found for incoming pod, 2 "
                           "Preemption is not helpful for scheduling.");
    free(m);
    cJSON_Delete(pod);
    /* More than any node has: preemption is not helpful anywhere. */
    pod = pod_json("p", "4", "", "", "");
    m = schedule_message(s, pod);
    assert_string_equal(m, "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated "
                           "taint {node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes "
                           "are available: 3 Preemption is not helpful for scheduling.");
    free(m);
    cJSON_Delete(pod);
    /* preemptionPolicy Never */
    pod = pod_json("p", "1", "", "'preemptionPolicy':'Never'", "");
    m = schedule_message(s, pod);
    assert_string_equal(m, "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated "
                           "taint {node-role.kubernetes.io/control-plane: }. preemption: not "
                           "eligible due to preemptionPolicy=Never.");
    free(m);
    cJSON_Delete(pod);
    scheduler_snapshot_free(s);

    /* Sorting is upstream's bytewise sort of "N reason": "10 x" sorts before "2 y". */
    s = scheduler_snapshot_new();
    char name[16];
    for (int i = 0; i < 12; i++) {
        snprintf(name, sizeof(name), "n%02d", i);
        add_node(s, name, "4", "8Gi", i < 10 ? "'disk':'hdd'" : "'disk':'ssd'",
                 i < 10 ? "" : "'unschedulable':true");
    }
    pod = pod_json("p", "", "", "'nodeSelector':{'disk':'ssd'}", "");
    m = schedule_message(s, pod);
    assert_string_equal(m, "0/12 nodes are available: 10 node(s) didn't match Pod's node "
                           "affinity/selector, 2 node(s) were unschedulable. preemption: 0/12 "
                           "nodes are available: 12 Preemption is not helpful for scheduling.");
    free(m);
    cJSON_Delete(pod);
    /* Several reasons from one node are all counted. */
    scheduler_snapshot_free(s);
    s = scheduler_snapshot_new();
    add_node(s, "n", "1", "1Gi", "", "");
    pod = pod_json("p", "2", "2Gi", "", "");
    m = schedule_message(s, pod);
    assert_string_equal(m, "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. "
                           "preemption: 0/1 nodes are available: 1 Preemption is not helpful for "
                           "scheduling.");
    free(m);
    cJSON_Delete(pod);
    scheduler_snapshot_free(s);
    /* No nodes at all. */
    s = scheduler_snapshot_new();
    pod = pod_json("p", "", "", "", "");
    m = schedule_message(s, pod);
    assert_string_equal(m, "no nodes available to schedule pods");
    free(m);
    cJSON_Delete(pod);
    scheduler_snapshot_free(s);
}

/* Wrong JSON types anywhere never crash and never count as resources. */
static void test_hostile_objects(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    cJSON *n =
        J("{'metadata':{'name':'n','labels':{'a':1,'b':null}},'spec':{'taints':{'key':'x'},"
          "'unschedulable':'yes'},'status':{'allocatable':{'cpu':4,'memory':[1],'pods':'1e2'},"
          "'conditions':'Ready','images':{'names':'x'}}}");
    assert_int_equal(scheduler_snapshot_set_node(s, n, NULL), 0);
    cJSON *bound = J("{'metadata':{'name':'b','namespace':7},'spec':{'nodeName':'n','containers':"
                     "{'name':'c'},'initContainers':[1,'x',{'resources':[]}],'overhead':'1'}}");
    assert_int_equal(scheduler_snapshot_set_pod(s, bound, NULL), 0);
    cJSON *pod =
        J("{'metadata':{'name':'p','labels':[1]},'spec':{'containers':[{'name':'c',"
          "'ports':[{'hostPort':'80'},{'hostPort':80.5,'protocol':3}],'resources':{'requests':"
          "{'cpu':'2','memory':{}}}}],'tolerations':'all','nodeSelector':[],"
          "'affinity':{'nodeAffinity':{'requiredDuringSchedulingIgnoredDuringExecution':"
          "{'nodeSelectorTerms':{}}},'podAffinity':{'requiredDuringSchedulingIgnoredDuring"
          "Execution':[{'labelSelector':{'matchLabels':{'a':1}},'topologyKey':5}]},"
          "'podAntiAffinity':{'preferredDuringSchedulingIgnoredDuringExecution':[{'weight':'x'}]}},"
          "'topologySpreadConstraints':[{'maxSkew':'1','topologyKey':'a','whenUnsatisfiable':"
          "'DoNotSchedule'}],'priority':1e300,'volumes':[{'persistentVolumeClaim':{'claimName':3}}]"
          "}}");
    scheduler_resources_t r;
    scheduler_pod_requests(pod, false, &r);
    assert_int_equal(r.milli_cpu, 2000);
    assert_int_equal(r.memory, 0);
    assert_int_equal(scheduler_pod_priority(s, pod), 2000001000);
    scheduler_algo_t *a = scheduler_algo_new(3);
    scheduler_result_t res;
    scheduler_schedule(a, s, pod, &res);
    assert_true(res.scheduled || (res.message && strncmp(res.message, "0/1 nodes", 9) == 0));
    scheduler_result_free(&res);
    scheduler_algo_free(a);
    const char *names[] = {"n"};
    int64_t sc[1];
    for (int p = 0; p < SCHEDULER_SCORE_COUNT; p++) {
        scheduler_score_nodes(s, pod, (scheduler_score_plugin_t)p, names, 1, sc);
        assert_true(sc[0] >= 0 && sc[0] <= 100);
    }
    cJSON_Delete(n);
    cJSON_Delete(bound);
    cJSON_Delete(pod);
    scheduler_snapshot_free(s);
}

/* ---- scores ---------------------------------------------------------------------------------- */

static void scores_of(scheduler_snapshot_t *s, const cJSON *pod, scheduler_score_plugin_t p,
                      const char *const *nodes, size_t n, int64_t *out)
{
    scheduler_score_nodes(s, pod, p, nodes, n, out);
}

static void test_score_resources(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    add_node(s, "empty", "4", "8Gi", "", "");
    add_node(s, "half", "4", "8Gi", "", "");
    add_pod(s, "x", "half", "2", "2Gi", "", "");
    const char *nodes[] = {"empty", "half"};
    int64_t sc[2];
    cJSON *pod = pod_json("p", "1", "2Gi", "", "");
    /* empty: cpu (4000-1000)/4000 = 75, mem (8-2)/8 = 75 -> 75;
     * half: cpu (4000-3000)/4000 = 25, mem (8-4)/8 = 50 -> 37 */
    scores_of(s, pod, SCHEDULER_SCORE_LEAST_ALLOCATED, nodes, 2, sc);
    assert_int_equal(sc[0], 75);
    assert_int_equal(sc[1], 37);
    /* balanced: empty 0.25/0.25 -> 100; half 0.75/0.5 -> 1 - 0.125 = 87 */
    scores_of(s, pod, SCHEDULER_SCORE_BALANCED_ALLOCATION, nodes, 2, sc);
    assert_int_equal(sc[0], 100);
    assert_int_equal(sc[1], 87);
    /* No requests: upstream's non-zero defaults (100m, 200Mi) still count. */
    cJSON *none = pod_json("n", "", "", "", "");
    scores_of(s, none, SCHEDULER_SCORE_LEAST_ALLOCATED, nodes, 2, sc);
    assert_int_equal(sc[0], (3900 * 100 / 4000 + (8192 - 200) * 100 / 8192) / 2);
    /* ... but BalancedAllocation uses real requests: nothing requested is perfectly balanced
     * (with the defaults, 100m/4 vs 200Mi/8Gi, it would be 99). */
    scores_of(s, none, SCHEDULER_SCORE_BALANCED_ALLOCATION, nodes, 2, sc);
    assert_int_equal(sc[0], 100);
    cJSON_Delete(none);
    cJSON_Delete(pod);
    scheduler_snapshot_free(s);
}

static void test_score_image_locality(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    cJSON *a = J(
        "{'metadata':{'name':'a'},'status':{'allocatable':{'cpu':'4','memory':'8Gi','pods':'110'},"
        "'conditions':[{'type':'Ready','status':'True'}],'images':[{'names':"
        "['docker.io/library/nginx:1.25','docker.io/library/nginx@sha256:abc'],"
        "'sizeBytes':524288000}]}}");
    scheduler_snapshot_set_node(s, a, NULL);
    add_node(s, "b", "4", "8Gi", "", "");
    const char *nodes[] = {"a", "b"};
    int64_t sc[2];
    cJSON *pod =
        J("{'metadata':{'name':'p'},'spec':{'containers':[{'name':'c','image':'nginx:1.25'}]}}");
    /* 500Mi spread over 1 of 2 nodes = 250Mi; (250 - 23) / (1000 - 23) -> 23 */
    scores_of(s, pod, SCHEDULER_SCORE_IMAGE_LOCALITY, nodes, 2, sc);
    assert_int_equal(sc[0], 23);
    assert_int_equal(sc[1], 0);
    cJSON_Delete(pod);
    pod = J("{'metadata':{'name':'p'},'spec':{'containers':[{'name':'c','image':'nginx'}]}}");
    scores_of(s, pod, SCHEDULER_SCORE_IMAGE_LOCALITY, nodes, 2, sc);
    assert_int_equal(sc[0], 0); /* nginx means nginx:latest, which a does not have */
    cJSON_Delete(pod);
    /* Init containers count, and raise the maximum: (250 - 23) / (2000 - 23) -> 11 */
    pod = J("{'metadata':{'name':'p'},'spec':{'initContainers':[{'name':'i','image':"
            "'docker.io/library/nginx:1.25'}],'containers':[{'name':'c','image':'other'}]}}");
    scores_of(s, pod, SCHEDULER_SCORE_IMAGE_LOCALITY, nodes, 2, sc);
    assert_int_equal(sc[0], 11);
    cJSON_Delete(pod);
    cJSON_Delete(a);
    scheduler_snapshot_free(s);
}

static void test_score_affinity_and_taints(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    add_node(s, "ssd", "4", "8Gi", "'disk':'ssd','zone':'z1'", "");
    add_node(s, "hdd", "4", "8Gi", "'disk':'hdd','zone':'z1'",
             "'taints':[{'key':'slow','effect':'PreferNoSchedule'},{'key':'old','effect':'"
             "PreferNoSchedule'}]");
    add_node(s, "any", "4", "8Gi", "'zone':'z2'",
             "'taints':[{'key':'slow','effect':'PreferNoSchedule'}]");
    const char *nodes[] = {"ssd", "hdd", "any"};
    int64_t sc[3];
    cJSON *pod = pod_json(
        "p", "", "",
        "'affinity':{'nodeAffinity':{'preferredDuringSchedulingIgnoredDuringExecution':["
        "{'weight':80,'preference':{'matchExpressions':[{'key':'disk','operator':'In','values':['"
        "ssd']}]}},"
        "{'weight':20,'preference':{'matchExpressions':[{'key':'disk','operator':'Exists'}]}}]}}",
        "");
    scores_of(s, pod, SCHEDULER_SCORE_NODE_AFFINITY, nodes, 3, sc);
    assert_int_equal(sc[0], 100);
    assert_int_equal(sc[1], 20);
    assert_int_equal(sc[2], 0);
    /* TaintToleration: untolerated PreferNoSchedule counts 0, 2, 1 -> 100, 0, 50 */
    scores_of(s, pod, SCHEDULER_SCORE_TAINT_TOLERATION, nodes, 3, sc);
    assert_int_equal(sc[0], 100);
    assert_int_equal(sc[1], 0);
    assert_int_equal(sc[2], 50);
    cJSON *tol = pod_json(
        "t", "", "",
        "'tolerations':[{'key':'slow','operator':'Exists','effect':'PreferNoSchedule'}]", "");
    scores_of(s, tol, SCHEDULER_SCORE_TAINT_TOLERATION, nodes, 3, sc);
    assert_int_equal(sc[0], 100);
    assert_int_equal(sc[1], 0);
    assert_int_equal(sc[2], 100);
    /* Preferred inter-pod affinity to a cache in zone z1, anti-affinity to batch pods. */
    add_pod(s, "cache", "hdd", "", "", "", "'labels':{'app':'cache'}");
    add_pod(s, "batch", "any", "", "", "", "'labels':{'app':'batch'}");
    cJSON *web = pod_json(
        "web", "", "",
        "'affinity':{'podAffinity':{'preferredDuringSchedulingIgnoredDuringExecution':[{'weight':"
        "50,"
        "'podAffinityTerm':{'labelSelector':{'matchLabels':{'app':'cache'}},'topologyKey':'zone'}}]"
        "},"
        "'podAntiAffinity':{'preferredDuringSchedulingIgnoredDuringExecution':[{'weight':50,"
        "'podAffinityTerm':{'labelSelector':{'matchLabels':{'app':'batch'}},'topologyKey':'zone'}}]"
        "}}",
        "");
    scores_of(s, web, SCHEDULER_SCORE_INTER_POD_AFFINITY, nodes, 3, sc);
    assert_int_equal(sc[0], 100); /* z1: +50 */
    assert_int_equal(sc[1], 100);
    assert_int_equal(sc[2], 0); /* z2: -50 */
    cJSON_Delete(pod);
    cJSON_Delete(tol);
    cJSON_Delete(web);
    scheduler_snapshot_free(s);
}

static void test_score_default_spreading(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    add_node(s, "a", "4", "8Gi", "", "");
    add_node(s, "b", "4", "8Gi", "", "");
    add_node(s, "c", "4", "8Gi", "", "");
    const char *owner = "'labels':{'app':'web'},'ownerReferences':[{'apiVersion':'apps/v1','kind':"
                        "'ReplicaSet','name':'web-1','uid':'rs-1','controller':true}]";
    add_pod(s, "w1", "a", "", "", "", owner);
    add_pod(s, "w2", "a", "", "", "", owner);
    add_pod(s, "w3", "b", "", "", "", owner);
    add_pod(s, "other", "c", "", "", "", "'labels':{'app':'other'}");
    const char *nodes[] = {"a", "b", "c"};
    int64_t sc[3];
    cJSON *pod = pod_json("w4", "", "", "", owner);
    /* hostname: weight log(3+2); a: 2, b: 1, c: 0 pods of the ReplicaSet; c is best. */
    scores_of(s, pod, SCHEDULER_SCORE_TOPOLOGY_SPREAD, nodes, 3, sc);
    assert_true(sc[2] == 100);
    assert_true(sc[1] < sc[2] && sc[0] < sc[1]);
    /* raw: a 2*ln5+2 = 5.22 -> 5, b 1*ln5+2 = 3.6 -> 4, c 2; 100*(5+2-s)/5 */
    assert_int_equal(sc[0], 40);
    assert_int_equal(sc[1], 60);
    /* A Service selecting the pod groups pods without an owner, too. */
    cJSON *svc = J("{'kind':'Service','metadata':{'name':'web','namespace':'default'},'spec':{'"
                   "selector':{'app':'web'}}}");
    scheduler_snapshot_set_object(s, svc, NULL);
    cJSON *lone = pod_json("lone", "", "", "", "'labels':{'app':'web'}");
    scores_of(s, lone, SCHEDULER_SCORE_TOPOLOGY_SPREAD, nodes, 3, sc);
    assert_int_equal(sc[2], 100);
    assert_true(sc[0] < sc[1]);
    /* No group at all: nothing to spread, every node scores the same. */
    cJSON *solo = pod_json("solo", "", "", "", "'labels':{'app':'solo'}");
    scores_of(s, solo, SCHEDULER_SCORE_TOPOLOGY_SPREAD, nodes, 3, sc);
    assert_true(sc[0] == sc[1] && sc[1] == sc[2]);
    /* The whole cycle places the next replica on c. */
    char *n = schedule_node(s, pod, 7);
    assert_string_equal(n, "c");
    free(n);
    cJSON_Delete(svc);
    cJSON_Delete(lone);
    cJSON_Delete(solo);
    cJSON_Delete(pod);
    scheduler_snapshot_free(s);
}

static void test_weights(void **state)
{
    (void)state;
    assert_int_equal(scheduler_score_weight(SCHEDULER_SCORE_TAINT_TOLERATION), 3);
    assert_int_equal(scheduler_score_weight(SCHEDULER_SCORE_NODE_AFFINITY), 2);
    assert_int_equal(scheduler_score_weight(SCHEDULER_SCORE_INTER_POD_AFFINITY), 2);
    assert_int_equal(scheduler_score_weight(SCHEDULER_SCORE_TOPOLOGY_SPREAD), 2);
    assert_int_equal(scheduler_score_weight(SCHEDULER_SCORE_LEAST_ALLOCATED), 1);
    assert_int_equal(scheduler_score_weight(SCHEDULER_SCORE_BALANCED_ALLOCATION), 1);
    assert_int_equal(scheduler_score_weight(SCHEDULER_SCORE_IMAGE_LOCALITY), 1);
}

/* ---- the cycle --------------------------------------------------------------------------------
 */

static void test_schedule_prefers_least_allocated(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    add_node(s, "busy", "4", "8Gi", "", "");
    add_node(s, "idle", "4", "8Gi", "", "");
    add_pod(s, "x", "busy", "3", "6Gi", "", "");
    cJSON *pod = pod_json("p", "500m", "512Mi", "", "");
    for (uint64_t seed = 1; seed < 20; seed++) {
        char *n = schedule_node(s, pod, seed);
        assert_string_equal(n, "idle");
        free(n);
    }
    cJSON_Delete(pod);
    scheduler_snapshot_free(s);
}

static void test_schedule_ties_are_random_and_seeded(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    char name[16];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        add_node(s, name, "4", "8Gi", "", "");
    }
    cJSON *pod = pod_json("p", "100m", "", "", "");
    int hits[4] = {0};
    scheduler_algo_t *a = scheduler_algo_new(42), *b = scheduler_algo_new(42);
    for (int i = 0; i < 400; i++) {
        scheduler_result_t ra, rb;
        scheduler_schedule(a, s, pod, &ra);
        scheduler_schedule(b, s, pod, &rb);
        assert_true(ra.scheduled && rb.scheduled);
        assert_string_equal(ra.node, rb.node); /* same seed, same choices */
        hits[ra.node[1] - '0']++;
        scheduler_result_free(&ra);
        scheduler_result_free(&rb);
    }
    for (int i = 0; i < 4; i++) /* roughly uniform among equal nodes */
        assert_true(hits[i] > 50);
    scheduler_algo_free(a);
    scheduler_algo_free(b);
    cJSON_Delete(pod);
    scheduler_snapshot_free(s);
}

static void test_snapshot_orphans_and_node_removal(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    add_pod(s, "early", "late", "3", "", "", ""); /* bound before its node is known */
    add_node(s, "late", "4", "8Gi", "", "");
    scheduler_resources_t r;
    assert_true(scheduler_snapshot_node_requested(s, "late", &r));
    assert_int_equal(r.milli_cpu, 3000);
    assert_int_equal(r.pods, 1);
    scheduler_snapshot_remove_node(s, "late");
    assert_int_equal(scheduler_snapshot_node_count(s), 0);
    add_node(s, "late", "4", "8Gi", "", "");
    assert_true(scheduler_snapshot_node_requested(s, "late", &r));
    assert_int_equal(r.milli_cpu, 3000);
    cJSON *nameless = J("{'metadata':{}}");
    util_error_t err = NULL;
    assert_int_equal(scheduler_snapshot_set_node(s, nameless, &err), -EINVAL);
    util_error_free(&err);
    assert_int_equal(scheduler_snapshot_set_pod(s, nameless, &err), -EINVAL);
    util_error_free(&err);
    cJSON_Delete(nameless);
    scheduler_snapshot_free(s);
}

/* ---- queue ------------------------------------------------------------------------------------
 */

static void test_queue_priority_order(void **state)
{
    (void)state;
    scheduler_queue_t *q = scheduler_queue_new();
    cJSON *low = pod_json("low", "", "", "", ""), *high = pod_json("high", "", "", "", "");
    cJSON *mid1 = pod_json("mid1", "", "", "", ""), *mid2 = pod_json("mid2", "", "", "", "");
    scheduler_queue_add(q, low, 0, 100);
    scheduler_queue_add(q, mid2, 1000, 300);
    scheduler_queue_add(q, mid1, 1000, 200);
    scheduler_queue_add(q, high, 2000000000, 400);
    scheduler_queue_add(q, low, 0, 500); /* an update keeps its place */
    const char *want[] = {"high", "mid1", "mid2", "low"};
    for (size_t i = 0; i < 4; i++) {
        const cJSON *p = scheduler_queue_pop(q, 1000);
        assert_non_null(p);
        assert_string_equal(
            cJSON_GetObjectItem(cJSON_GetObjectItem(p, "metadata"), "name")->valuestring, want[i]);
        scheduler_queue_done(q, p, SCHEDULER_ATTEMPT_SCHEDULED, 1000);
    }
    assert_null(scheduler_queue_pop(q, 1000));
    assert_int_equal(scheduler_queue_next_wakeup(q, 1000), -1);
    cJSON_Delete(low);
    cJSON_Delete(high);
    cJSON_Delete(mid1);
    cJSON_Delete(mid2);
    scheduler_queue_free(q);
}

static void test_queue_priority_from_class(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    cJSON *pc = J("{'kind':'PriorityClass','metadata':{'name':'high'},'value':1000000}");
    cJSON *def =
        J("{'kind':'PriorityClass','metadata':{'name':'def'},'value':7,'globalDefault':true}");
    scheduler_snapshot_set_object(s, pc, NULL);
    cJSON *a = pod_json("a", "", "", "'priorityClassName':'high'", "");
    cJSON *b = pod_json("b", "", "", "'priority':42,'priorityClassName':'high'", "");
    cJSON *c = pod_json("c", "", "", "", "");
    assert_int_equal(scheduler_pod_priority(s, a), 1000000);
    assert_int_equal(scheduler_pod_priority(s, b), 42); /* admission already resolved it */
    assert_int_equal(scheduler_pod_priority(s, c), 0);
    scheduler_snapshot_set_object(s, def, NULL);
    assert_int_equal(scheduler_pod_priority(s, c), 7);
    cJSON_Delete(pc);
    cJSON_Delete(def);
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(c);
    scheduler_snapshot_free(s);
}

static void test_queue_backoff_and_events(void **state)
{
    (void)state;
    scheduler_queue_t *q = scheduler_queue_new();
    cJSON *pod = pod_json("p", "", "", "", "");
    size_t active, backoff, unsched;
    scheduler_queue_add(q, pod, 0, 0);
    const cJSON *p = scheduler_queue_pop(q, 0);
    assert_non_null(p);
    scheduler_queue_done(q, p, SCHEDULER_ATTEMPT_UNSCHEDULABLE, 0);
    scheduler_queue_counts(q, &active, &backoff, &unsched);
    assert_true(active == 0 && backoff == 0 && unsched == 1);
    /* Unschedulable pods wait for an event, not for time (up to 5 minutes). */
    assert_null(scheduler_queue_pop(q, 60000));
    assert_int_equal(scheduler_queue_next_wakeup(q, 0), SCHEDULER_UNSCHEDULABLE_MAX_WAIT_MS);
    /* An event during the 1 s back-off moves it to backoffQ, then activeQ at 1 s. */
    scheduler_queue_move_all(q, SCHEDULER_EVENT_NODE_ADD, 500);
    scheduler_queue_counts(q, &active, &backoff, &unsched);
    assert_true(active == 0 && backoff == 1 && unsched == 0);
    assert_null(scheduler_queue_pop(q, 999));
    assert_int_equal(scheduler_queue_next_wakeup(q, 500), 500);
    p = scheduler_queue_pop(q, 1000);
    assert_non_null(p);
    /* Attempts 2, 3, 4, 5, 6 back off 2, 4, 8, 10, 10 seconds. */
    int64_t now = 1000;
    const int64_t want[] = {2000, 4000, 8000, 10000, 10000};
    for (size_t i = 0; i < 5; i++) {
        scheduler_queue_done(q, p, SCHEDULER_ATTEMPT_ERROR, now);
        assert_null(scheduler_queue_pop(q, now + want[i] - 1));
        p = scheduler_queue_pop(q, now + want[i]);
        assert_non_null(p);
        now += want[i];
    }
    /* Parked past 5 minutes: retried without an event. */
    scheduler_queue_done(q, p, SCHEDULER_ATTEMPT_UNSCHEDULABLE, now);
    assert_null(scheduler_queue_pop(q, now + SCHEDULER_UNSCHEDULABLE_MAX_WAIT_MS - 1));
    p = scheduler_queue_pop(q, now + SCHEDULER_UNSCHEDULABLE_MAX_WAIT_MS);
    assert_non_null(p);
    now += SCHEDULER_UNSCHEDULABLE_MAX_WAIT_MS;
    /* An event while the attempt is in flight: the failure goes to backoffQ, not parked. */
    scheduler_queue_move_all(q, SCHEDULER_EVENT_POD_DELETE, now);
    scheduler_queue_done(q, p, SCHEDULER_ATTEMPT_UNSCHEDULABLE, now);
    scheduler_queue_counts(q, &active, &backoff, &unsched);
    assert_true(backoff == 1 && unsched == 0);
    /* Deleting a pod removes it wherever it is, also while in flight. */
    p = scheduler_queue_pop(q, now + 10000);
    assert_non_null(p);
    scheduler_queue_delete(q, "default", "p");
    scheduler_queue_done(q, p, SCHEDULER_ATTEMPT_UNSCHEDULABLE, now + 10000);
    scheduler_queue_counts(q, &active, &backoff, &unsched);
    assert_true(active == 0 && backoff == 0 && unsched == 0);
    cJSON_Delete(pod);
    scheduler_queue_free(q);
}

static const char *sched_name(const cJSON *pod)
{
    return cJSON_GetObjectItem(cJSON_GetObjectItem(pod, "metadata"), "name")->valuestring;
}

/* Lookups by name through the queue's index: many pods, deletes, and a pod deleted while in
 * flight and created again under its name (two entries, one of them live). */
static void test_queue_index_and_recreated_pod(void **state)
{
    (void)state;
    scheduler_queue_t *q = scheduler_queue_new();
    char name[32];
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof(name), "q%d", i);
        cJSON *p = pod_json(name, "1", "", "", "");
        scheduler_queue_add(q, p, 0, i);
        scheduler_queue_add(q, p, 0, i); /* the same again: one entry */
        cJSON_Delete(p);
    }
    for (int i = 0; i < 500; i += 2) {
        snprintf(name, sizeof(name), "q%d", i);
        scheduler_queue_delete(q, "default", name);
    }
    size_t active, backoff, unsched;
    scheduler_queue_counts(q, &active, &backoff, &unsched);
    assert_int_equal(active, 250);
    const cJSON *first = scheduler_queue_pop(q, 1000);
    assert_string_equal(sched_name(first), "q1");
    scheduler_queue_delete(q, "default", "q1"); /* deleted in flight: kept until done */
    cJSON *again = pod_json("q1", "2", "", "", "");
    scheduler_queue_add(q, again, 100, 1000); /* created again: an entry of its own */
    const cJSON *second = scheduler_queue_pop(q, 1000);
    assert_string_equal(sched_name(second), "q1");
    assert_true(second != first);
    scheduler_queue_done(q, first, SCHEDULER_ATTEMPT_ERROR, 1000); /* the old one goes */
    scheduler_queue_delete(q, "default", "q1");                    /* the new one, in flight */
    scheduler_queue_done(q, second, SCHEDULER_ATTEMPT_ERROR, 1000);
    scheduler_queue_counts(q, &active, &backoff, &unsched);
    assert_int_equal(active + backoff + unsched, 249);
    for (int i = 3; i < 500; i += 2) {
        snprintf(name, sizeof(name), "q%d", i);
        scheduler_queue_delete(q, "default", name);
    }
    scheduler_queue_counts(q, &active, &backoff, &unsched);
    assert_int_equal(active + backoff + unsched, 0);
    assert_null(scheduler_queue_pop(q, 100000));
    cJSON_Delete(again);
    scheduler_queue_free(q);
}

static void test_queue_update_moves_unschedulable(void **state)
{
    (void)state;
    scheduler_queue_t *q = scheduler_queue_new();
    cJSON *pod = pod_json("p", "", "", "", "");
    scheduler_queue_add(q, pod, 0, 0);
    const cJSON *p = scheduler_queue_pop(q, 0);
    scheduler_queue_done(q, p, SCHEDULER_ATTEMPT_UNSCHEDULABLE, 0);
    /* Our own PodScheduled=False patch (status and resourceVersion only) is no reason to try
     * again (upstream's isPodUpdated) */
    cJSON *status_only = pod_json("p", "", "", "", "'resourceVersion':'7'");
    cJSON_AddItemToObject(status_only, "status",
                          cJSON_Parse("{\"conditions\":[{\"type\":\"PodScheduled\"}]}"));
    scheduler_queue_add(q, status_only, 0, 5000);
    assert_null(scheduler_queue_pop(q, 5000));
    cJSON_Delete(status_only);
    /* the user edits the pod (a label) after its back-off: it is tried again */
    cJSON *labelled = pod_json("p", "", "", "", "'labels':{'x':'y'}");
    scheduler_queue_add(q, labelled, 0, 5000);
    cJSON_Delete(labelled);
    p = scheduler_queue_pop(q, 5000);
    assert_non_null(p);
    /* An update while the attempt is in flight leaves the popped copy alone; the new copy is
     * tried after the back-off. */
    cJSON *edited = pod_json("p", "", "", "'nodeSelector':{'a':'b'}", "");
    scheduler_queue_add(q, edited, 0, 5001);
    assert_non_null(cJSON_GetObjectItem(p, "metadata")); /* still valid */
    scheduler_queue_done(q, p, SCHEDULER_ATTEMPT_UNSCHEDULABLE, 5002);
    p = scheduler_queue_pop(q, 5002 + 2000);
    assert_non_null(p);
    assert_non_null(cJSON_GetObjectItem(cJSON_GetObjectItem(p, "spec"), "nodeSelector"));
    cJSON_Delete(edited);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(p, "metadata"), "name")->valuestring, "p");
    cJSON_Delete(pod);
    scheduler_queue_free(q);
}

/* ---- API objects and the driver ----------------------------------------------------------------
 */

static void test_binding_and_condition_json(void **state)
{
    (void)state;
    cJSON *pod = pod_json("web-1", "", "", "", "");
    cJSON *b = scheduler_binding_json(pod, "n1");
    char *text = cJSON_PrintUnformatted(b);
    assert_string_equal(text, "{\"apiVersion\":\"v1\",\"kind\":\"Binding\",\"metadata\":{\"name\":"
                              "\"web-1\",\"namespace\":\"default\",\"uid\":\"uid-web-1\"},"
                              "\"target\":{\"kind\":\"Node\",\"name\":\"n1\"}}");
    free(text);
    cJSON_Delete(b);
    cJSON *patch = scheduler_unschedulable_patch_json(pod, "0/1 nodes are available: x.", 0);
    text = cJSON_PrintUnformatted(patch);
    assert_string_equal(text, "{\"status\":{\"conditions\":[{\"type\":\"PodScheduled\",\"status\":"
                              "\"False\",\"lastProbeTime\":null,\"lastTransitionTime\":"
                              "\"1970-01-01T00:00:00Z\",\"reason\":\"Unschedulable\",\"message\":"
                              "\"0/1 nodes are available: x.\"}]}}");
    free(text);
    cJSON_Delete(patch);
    /* An existing PodScheduled=False keeps its transition time. */
    cJSON_AddItemToObject(pod, "status",
                          J("{'conditions':[{'type':'PodScheduled','status':'False',"
                            "'lastTransitionTime':'2026-01-01T00:00:00Z'}]}"));
    patch = scheduler_unschedulable_patch_json(pod, "m", 1000000);
    const cJSON *c = cJSON_GetArrayItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(patch, "status"), "conditions"), 0);
    assert_string_equal(cJSON_GetObjectItem(c, "lastTransitionTime")->valuestring,
                        "2026-01-01T00:00:00Z");
    cJSON_Delete(patch);
    cJSON *ev = scheduler_event_json(pod, NULL, "m", 0);
    assert_string_equal(cJSON_GetObjectItem(ev, "reason")->valuestring, "FailedScheduling");
    assert_string_equal(cJSON_GetObjectItem(ev, "type")->valuestring, "Warning");
    cJSON_Delete(ev);
    ev = scheduler_event_json(pod, "n1", NULL, 0);
    assert_string_equal(cJSON_GetObjectItem(ev, "message")->valuestring,
                        "Successfully assigned default/web-1 to n1");
    cJSON_Delete(ev);
    cJSON_Delete(pod);
}

static void test_pod_is_ours(void **state)
{
    (void)state;
    cJSON *a = pod_json("a", "", "", "", "");
    cJSON *b = pod_json("b", "", "", "'schedulerName':'kubeling'", "");
    cJSON *c = pod_json("c", "", "", "'schedulerName':'other'", "");
    cJSON *d = pod_json("d", "", "", "'nodeName':'n1'", "");
    cJSON *e = pod_json("e", "", "", "", "'deletionTimestamp':'2026-01-01T00:00:00Z'");
    assert_true(scheduler_pod_is_ours(a));
    assert_true(scheduler_pod_is_ours(b));
    assert_false(scheduler_pod_is_ours(c));
    assert_false(scheduler_pod_is_ours(d));
    assert_false(scheduler_pod_is_ours(e));
    cJSON_Delete(a);
    cJSON_Delete(b);
    cJSON_Delete(c);
    cJSON_Delete(d);
    cJSON_Delete(e);
}

typedef struct fake_api {
    int binds, patches, events, deletes;
    char deleted[256];
    char nominated[64];
    int fail_binds;
    bool async;          /* bindings answer later, through scheduler_bind_done */
    char sent[8][2][64]; /* async bindings sent: name, node */
    char last_node[64];
    char last_message[512];
    char last_reason[64];    /* of the last condition patched */
    char last_event[1200];   /* type reason: message of the last event */
    bool cleared_nomination; /* a patch set nominatedNodeName to null */
} fake_api_t;

static int fake_bind(void *ud, const char *ns, const char *name, const cJSON *binding)
{
    fake_api_t *f = ud;
    (void)ns;
    (void)name;
    if (f->fail_binds > 0) {
        f->fail_binds--;
        return -EIO;
    }
    f->binds++;
    snprintf(f->last_node, sizeof(f->last_node), "%s",
             cJSON_GetObjectItem(cJSON_GetObjectItem(binding, "target"), "name")->valuestring);
    if (f->async && f->binds <= 8) {
        snprintf(f->sent[f->binds - 1][0], sizeof(f->sent[0][0]), "%s", name);
        snprintf(f->sent[f->binds - 1][1], sizeof(f->sent[0][1]), "%s", f->last_node);
    }
    return f->async ? 1 : 0;
}

static int fake_patch(void *ud, const char *ns, const char *name, const cJSON *patch)
{
    fake_api_t *f = ud;
    (void)ns;
    (void)name;
    const cJSON *status = cJSON_GetObjectItem(patch, "status");
    const cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(status, "conditions"), 0);
    const cJSON *nom = cJSON_GetObjectItem(status, "nominatedNodeName");
    if (cJSON_IsString(nom))
        snprintf(f->nominated, sizeof(f->nominated), "%s", nom->valuestring);
    if (cJSON_IsNull(nom))
        f->cleared_nomination = true;
    if (c) {
        snprintf(f->last_message, sizeof(f->last_message), "%s: %s",
                 cJSON_GetObjectItem(c, "type")->valuestring,
                 cJSON_GetObjectItem(c, "message")->valuestring);
        snprintf(f->last_reason, sizeof(f->last_reason), "%s %s",
                 cJSON_GetObjectItem(c, "status")->valuestring,
                 cJSON_GetObjectItem(c, "reason")->valuestring);
    }
    f->patches++;
    return 0;
}

static int fake_event(void *ud, const char *ns, const cJSON *event)
{
    fake_api_t *f = ud;
    (void)ns;
    snprintf(f->last_event, sizeof(f->last_event), "%s %s: %s",
             cJSON_GetStringValue(cJSON_GetObjectItem(event, "type")),
             cJSON_GetStringValue(cJSON_GetObjectItem(event, "reason")),
             cJSON_GetStringValue(cJSON_GetObjectItem(event, "message")));
    f->events++;
    return 0;
}

static int fake_delete(void *ud, const char *ns, const char *name, const char *uid)
{
    fake_api_t *f = ud;
    size_t len = strlen(f->deleted);
    snprintf(f->deleted + len, sizeof(f->deleted) - len, "%s%s/%s(%s)", len ? " " : "", ns, name,
             uid ? uid : "");
    f->deletes++;
    return 0;
}

static void test_driver_end_to_end(void **state)
{
    (void)state;
    fake_api_t f = {0};
    scheduler_ops_t ops = {fake_bind, fake_patch, fake_event, fake_delete};
    scheduler_t *s = scheduler_new(&ops, &f, 1);
    cJSON *pod = pod_json("p", "3", "", "", "");
    scheduler_on_pod(s, pod, false, 0);
    assert_int_equal(scheduler_run_once(s, 0, 0), 1);
    assert_int_equal(f.patches, 1);
    assert_string_equal(f.last_message, "PodScheduled: no nodes available to schedule pods");
    cJSON *n = node_json("n1", "2", "4Gi", "", "");
    scheduler_on_node(s, n, false, 10); /* too small, but an event: retried after back-off */
    assert_int_equal(scheduler_run_once(s, 10, 0), 0);
    assert_int_equal(scheduler_run_once(s, 1000, 0), 1);
    assert_string_equal(f.last_message,
                        "PodScheduled: 0/1 nodes are available: 1 Insufficient cpu. preemption: "
                        "0/1 nodes are available: 1 Preemption is not helpful for scheduling.");
    cJSON *big = node_json("n2", "4", "8Gi", "", "");
    scheduler_on_node(s, big, false, 1500);
    f.fail_binds = 1; /* the binding fails once: back off and retry */
    assert_int_equal(scheduler_run_once(s, 3000, 0), 1);
    assert_int_equal(f.binds, 0);
    scheduler_resources_t r;
    assert_true(scheduler_snapshot_node_requested(scheduler_get_snapshot(s), "n2", &r));
    assert_int_equal(r.milli_cpu, 0); /* the assumption was forgotten */
    assert_int_equal(scheduler_run_once(s, 3000 + 2999, 0), 0);
    assert_int_equal(scheduler_run_once(s, 3000 + 4000, 0), 1);
    assert_int_equal(f.binds, 1);
    assert_string_equal(f.last_node, "n2");
    assert_true(scheduler_snapshot_node_requested(scheduler_get_snapshot(s), "n2", &r));
    assert_int_equal(r.milli_cpu, 3000); /* assumed until the watch confirms */
    /* A stale pending copy (from before the binding) neither requeues nor unassumes it. */
    scheduler_on_pod(s, pod, false, 7500);
    assert_int_equal(scheduler_run_once(s, 60000, 0), 0);
    assert_true(scheduler_snapshot_node_requested(scheduler_get_snapshot(s), "n2", &r));
    assert_int_equal(r.milli_cpu, 3000);
    /* The watch delivers the bound pod: counted once. */
    cJSON_AddItemToObject(cJSON_GetObjectItem(pod, "spec"), "nodeName", cJSON_CreateString("n2"));
    scheduler_on_pod(s, pod, false, 8000);
    assert_true(scheduler_snapshot_node_requested(scheduler_get_snapshot(s), "n2", &r));
    assert_int_equal(r.milli_cpu, 3000);
    assert_int_equal(r.pods, 1);
    scheduler_on_pod(s, pod, true, 9000);
    assert_true(scheduler_snapshot_node_requested(scheduler_get_snapshot(s), "n2", &r));
    assert_int_equal(r.pods, 0);
    assert_int_equal(scheduler_run_once(s, 20000, 0), 0);
    cJSON *svc = J("{'kind':'Service','metadata':{'name':'s','namespace':'default'},'spec':{}}");
    scheduler_on_object(s, svc, false, 0);
    scheduler_on_object(s, svc, true, 0);
    cJSON_Delete(svc);
    cJSON_Delete(n);
    cJSON_Delete(big);
    cJSON_Delete(pod);
    scheduler_free(s);
}

static int64_t requested_cpu(scheduler_t *s, const char *node)
{
    scheduler_resources_t r;
    assert_true(scheduler_snapshot_node_requested(scheduler_get_snapshot(s), node, &r));
    return r.milli_cpu;
}

/* The node the fake sent pod name's binding to ("" if none). */
static const char *sent_to(const fake_api_t *f, const char *name)
{
    for (int i = 0; i < f->binds && i < 8; i++)
        if (strcmp(f->sent[i][0], name) == 0)
            return f->sent[i][1];
    return "";
}

/* The pod index survives growth, removals (tombstones), re-adds and nodes going away. */
static void test_snapshot_pod_index(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    add_node(s, "n0", "1000", "1000Gi", "", "");
    add_node(s, "n1", "1000", "1000Gi", "", "");
    char name[32], node[8];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 600; i++) {
            snprintf(name, sizeof(name), "p%d", i);
            snprintf(node, sizeof(node), "n%d", (i / 2 + round) % 2);
            cJSON *p = pod_json(name, "1", "", "", "");
            if (i % 3 == 0)
                assert_int_equal(scheduler_snapshot_assume(s, p, node, NULL), 0);
            else
                add_pod(s, name, node, "1", "", "", "");
            cJSON_Delete(p);
        }
        for (int i = 0; i < 600; i += 2) {
            snprintf(name, sizeof(name), "p%d", i);
            scheduler_snapshot_remove_pod(s, "default", name);
        }
    }
    scheduler_resources_t r0, r1;
    assert_true(scheduler_snapshot_node_requested(s, "n0", &r0));
    assert_true(scheduler_snapshot_node_requested(s, "n1", &r1));
    assert_int_equal(r0.pods + r1.pods, 300); /* each pod once, on its latest node */
    assert_int_equal(r0.milli_cpu + r1.milli_cpu, 300000);
    assert_true(scheduler_snapshot_is_assumed(s, "default", "p3"));
    assert_false(scheduler_snapshot_is_assumed(s, "default", "p1"));
    assert_false(scheduler_snapshot_is_assumed(s, "default", "p0"));
    assert_true(r0.pods > 0 && r1.pods > 0);
    /* a node goes: its pods wait as orphans, still found, and come back with it */
    scheduler_snapshot_remove_node(s, "n0");
    assert_true(scheduler_snapshot_is_assumed(s, "default", "p9")); /* an orphan now */
    scheduler_snapshot_remove_pod(s, "default", "p1");              /* another one */
    add_node(s, "n0", "1000", "1000Gi", "", "");
    assert_true(scheduler_snapshot_node_requested(s, "n0", &r0));
    assert_true(scheduler_snapshot_node_requested(s, "n1", &r1));
    assert_int_equal(r0.pods + r1.pods, 299);
    assert_true(scheduler_snapshot_is_assumed(s, "default", "p9"));
    /* forget drops only a matching assumption */
    cJSON *p3 = pod_json("p3", "1", "", "", "");
    assert_false(scheduler_snapshot_forget(s, p3, "n9"));
    assert_true(scheduler_snapshot_forget(s, p3, "n1") || scheduler_snapshot_forget(s, p3, "n0"));
    assert_false(scheduler_snapshot_is_assumed(s, "default", "p3"));
    cJSON *p5 = pod_json("p5", "1", "", "", "");
    assert_false(scheduler_snapshot_forget(s, p5, "n0")); /* confirmed by a watch, not assumed */
    assert_false(scheduler_snapshot_forget(s, p5, "n1"));
    cJSON_Delete(p3);
    cJSON_Delete(p5);
    scheduler_snapshot_free(s);
}

static void test_driver_bindings_in_flight(void **state)
{
    (void)state;
    fake_api_t f = {.async = true};
    scheduler_ops_t ops = {fake_bind, fake_patch, fake_event, fake_delete};
    scheduler_t *s = scheduler_new(&ops, &f, 1);
    scheduler_set_max_bindings(s, 3);
    cJSON *n1 = node_json("n1", "2", "8Gi", "", ""), *n2 = node_json("n2", "2", "8Gi", "", "");
    scheduler_on_node(s, n1, false, 0);
    scheduler_on_node(s, n2, false, 0);
    cJSON *p[5];
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof(name), "p%d", i);
        p[i] = pod_json(name, "1", "", "", "");
        scheduler_on_pod(s, p[i], false, i); /* p0 first */
    }
    /* three bindings go out without an answer; each pod sees the ones before it assumed */
    for (int i = 0; i < 3; i++)
        assert_int_equal(scheduler_run_once(s, 10, 0), 1);
    assert_int_equal(f.binds, 3);
    assert_int_equal(scheduler_bindings_in_flight(s), 3);
    assert_true(scheduler_bindings_full(s));
    assert_int_equal(scheduler_run_once(s, 10, 0), 0); /* bounded: p3 waits */
    assert_int_equal(requested_cpu(s, "n1") + requested_cpu(s, "n2"), 3000);
    assert_true(requested_cpu(s, "n1") <= 2000 && requested_cpu(s, "n2") <= 2000);
    for (int i = 0; i < 3; i++)
        assert_true(
            scheduler_snapshot_is_assumed(scheduler_get_snapshot(s), "default", f.sent[i][0]));
    assert_int_equal(f.events, 0);
    /* answers in any order: p1 is bound (Scheduled event), a slot frees up */
    scheduler_bind_done(s, "default", "p1", "uid-p1", SCHEDULER_BIND_OK, NULL, 20, 0);
    assert_int_equal(f.events, 1);
    assert_int_equal(scheduler_bindings_in_flight(s), 2);
    /* an answer for no binding in flight (or another uid) changes nothing */
    scheduler_bind_done(s, "default", "nope", NULL, SCHEDULER_BIND_ERROR, NULL, 20, 0);
    scheduler_bind_done(s, "default", "p0", "uid-other", SCHEDULER_BIND_ERROR, NULL, 20, 0);
    assert_int_equal(scheduler_bindings_in_flight(s), 2);
    /* p3 takes the last cpu (p0, p2, p3 in flight); with room for a fourth binding, p4 finds
     * both nodes full of assumed pods */
    assert_int_equal(scheduler_run_once(s, 30, 0), 1);
    assert_int_equal(scheduler_run_once(s, 30, 0), 0);
    scheduler_set_max_bindings(s, 4);
    assert_int_equal(f.binds, 4);
    assert_int_equal(requested_cpu(s, "n1") + requested_cpu(s, "n2"), 4000);
    assert_int_equal(scheduler_run_once(s, 30, 0), 1);
    assert_int_equal(f.binds, 4);
    assert_string_equal(f.last_message,
                        "PodScheduled: 0/2 nodes are available: 2 Insufficient cpu. preemption: "
                        "0/2 nodes are available: 2 No preemption victims found for incoming pod.");
    /* p0's binding fails: the assumption goes, p0 retries after its back-off */
    const char *p0_node = sent_to(&f, "p0");
    int64_t before = requested_cpu(s, p0_node);
    scheduler_bind_done(s, "default", "p0", "uid-p0", SCHEDULER_BIND_ERROR, NULL, 40, 0);
    assert_int_equal(requested_cpu(s, p0_node), before - 1000);
    assert_false(scheduler_snapshot_is_assumed(scheduler_get_snapshot(s), "default", "p0"));
    size_t active, backoff, unsched;
    scheduler_queue_counts(scheduler_get_queue(s), &active, &backoff, &unsched);
    assert_int_equal(backoff, 1);
    /* p2 was deleted or bound by someone else (409/404): forgotten and not retried */
    const char *p2_node = sent_to(&f, "p2");
    before = requested_cpu(s, p2_node);
    assert_int_equal(scheduler_bind_result(409), SCHEDULER_BIND_GONE);
    assert_int_equal(scheduler_bind_result(404), SCHEDULER_BIND_GONE);
    assert_int_equal(scheduler_bind_result(500), SCHEDULER_BIND_ERROR);
    assert_int_equal(scheduler_bind_result(0), SCHEDULER_BIND_ERROR);
    assert_int_equal(scheduler_bind_result(201), SCHEDULER_BIND_OK);
    scheduler_bind_done(s, "default", "p2", "uid-p2", scheduler_bind_result(409), NULL, 40, 0);
    assert_int_equal(requested_cpu(s, p2_node), before - 1000);
    /* p3: the watch confirms it before the answer; a failed answer then keeps the confirmed
     * copy (it is no assumption any more) */
    const char *p3_node = sent_to(&f, "p3");
    cJSON *bound = cJSON_Duplicate(p[3], true);
    cJSON_AddItemToObject(cJSON_GetObjectItem(bound, "spec"), "nodeName",
                          cJSON_CreateString(p3_node));
    scheduler_on_pod(s, bound, false, 45);
    assert_false(scheduler_snapshot_is_assumed(scheduler_get_snapshot(s), "default", "p3"));
    before = requested_cpu(s, p3_node);
    scheduler_bind_done(s, "default", "p3", "uid-p3", SCHEDULER_BIND_ERROR, NULL, 50, 0);
    assert_int_equal(requested_cpu(s, p3_node), before);
    assert_int_equal(scheduler_bindings_in_flight(s), 0);
    /* later: only p0 (back-off over) and p4 (a pod went away) are tried again; p2 and p3 never */
    int tried = 0;
    while (scheduler_run_once(s, 20000, 0) == 1)
        tried++;
    assert_int_equal(tried, 2);
    assert_int_equal(scheduler_bindings_in_flight(s), 2);
    assert_string_equal(sent_to(&f, "p0"), p0_node); /* the first binding recorded */
    assert_int_equal(f.binds, 6);
    for (int i = 4; i < 6; i++)
        assert_true(strcmp(f.sent[i][0], "p0") == 0 || strcmp(f.sent[i][0], "p4") == 0);
    /* p4 is deleted while its binding is in flight: its assumption goes with it, the answer
     * (404) is harmless */
    scheduler_on_pod(s, p[4], true, 20010);
    assert_false(scheduler_snapshot_is_assumed(scheduler_get_snapshot(s), "default", "p4"));
    scheduler_bind_done(s, "default", "p4", "uid-p4", SCHEDULER_BIND_GONE, NULL, 20020, 0);
    scheduler_bind_done(s, "default", "p0", "uid-p0", SCHEDULER_BIND_OK, NULL, 20020, 0);
    assert_int_equal(scheduler_bindings_in_flight(s), 0);
    assert_int_equal(scheduler_run_once(s, 90000, 0), 0);
    scheduler_queue_counts(scheduler_get_queue(s), &active, &backoff, &unsched);
    assert_int_equal(active + backoff + unsched, 0);
    /* bindings still in flight when the scheduler goes are freed with it (ASan) */
    cJSON *last = pod_json("last", "100m", "", "", "");
    scheduler_on_pod(s, last, false, 90000);
    assert_int_equal(scheduler_run_once(s, 90000, 0), 1);
    assert_int_equal(scheduler_bindings_in_flight(s), 1);
    cJSON_Delete(last);
    cJSON_Delete(bound);
    for (int i = 0; i < 5; i++)
        cJSON_Delete(p[i]);
    cJSON_Delete(n1);
    cJSON_Delete(n2);
    scheduler_free(s);
}

/* upstream's handleBindingCycleError: a failed binding is forgotten, reported (FailedScheduling
 * event, PodScheduled=False SchedulerError with the API's error, nomination cleared) and
 * retried after the back-off; a pod gone (404/409) or confirmed by the watch is not reported. */
static void test_driver_bind_error_reported(void **state)
{
    (void)state;
    fake_api_t f = {.async = true};
    scheduler_ops_t ops = {fake_bind, fake_patch, fake_event, fake_delete};
    scheduler_t *s = scheduler_new(&ops, &f, 1);
    cJSON *n1 = node_json("n1", "4", "8Gi", "", "");
    scheduler_on_node(s, n1, false, 0);
    cJSON *p = pod_json("p", "1", "", "", "");
    cJSON_AddItemToObject(p, "status", J("{'nominatedNodeName':'n1'}"));
    scheduler_on_pod(s, p, false, 0);
    assert_int_equal(scheduler_run_once(s, 10, 0), 1);
    assert_int_equal(f.binds, 1);
    assert_int_equal(requested_cpu(s, "n1"), 1000);
    assert_int_equal(f.events + f.patches, 0);
    scheduler_bind_done(s, "default", "p", "uid-p", SCHEDULER_BIND_ERROR,
                        "Internal error occurred: database is locked", 20, 0);
    assert_int_equal(requested_cpu(s, "n1"), 0);
    assert_false(scheduler_snapshot_is_assumed(scheduler_get_snapshot(s), "default", "p"));
    assert_int_equal(f.events, 1);
    assert_string_equal(f.last_event, "Warning FailedScheduling: running Bind plugin "
                                      "\"DefaultBinder\": Internal error occurred: database is "
                                      "locked");
    assert_int_equal(f.patches, 1);
    assert_string_equal(f.last_reason, "False SchedulerError");
    assert_string_equal(f.last_message, "PodScheduled: running Bind plugin \"DefaultBinder\": "
                                        "Internal error occurred: database is locked");
    assert_true(f.cleared_nomination);
    size_t active, backoff, unsched;
    scheduler_queue_counts(scheduler_get_queue(s), &active, &backoff, &unsched);
    assert_int_equal(backoff, 1);
    /* retried after the back-off: bound this time */
    assert_int_equal(scheduler_run_once(s, 30, 0), 0);
    assert_int_equal(scheduler_run_once(s, 20000, 0), 1);
    assert_int_equal(f.binds, 2);
    scheduler_bind_done(s, "default", "p", "uid-p", SCHEDULER_BIND_OK, NULL, 20010, 0);
    assert_int_equal(f.events, 2);
    assert_string_equal(f.last_event, "Normal Scheduled: Successfully assigned default/p to n1");
    /* 404/409: forgotten, not reported, not retried */
    cJSON *q = pod_json("q", "1", "", "", "");
    scheduler_on_pod(s, q, false, 20020);
    assert_int_equal(scheduler_run_once(s, 20020, 0), 1);
    scheduler_bind_done(s, "default", "q", "uid-q", SCHEDULER_BIND_GONE, "pods \"q\" not found",
                        20030, 0);
    assert_int_equal(f.events, 2);
    assert_int_equal(f.patches, 1);
    /* confirmed by the watch before a failed answer: not reported */
    cJSON *w = pod_json("w", "1", "", "", "");
    scheduler_on_pod(s, w, false, 20040);
    assert_int_equal(scheduler_run_once(s, 20040, 0), 1);
    cJSON *bound = cJSON_Duplicate(w, true);
    cJSON_AddItemToObject(cJSON_GetObjectItem(bound, "spec"), "nodeName", cJSON_CreateString("n1"));
    scheduler_on_pod(s, bound, false, 20050);
    scheduler_bind_done(s, "default", "w", "uid-w", SCHEDULER_BIND_ERROR, "timeout", 20060, 0);
    assert_int_equal(f.events, 2);
    /* a binding that could not even be sent is reported the same way; no message: generic */
    cJSON *x = pod_json("x", "1", "", "", "");
    scheduler_on_pod(s, x, false, 20070);
    f.fail_binds = 1;
    assert_int_equal(scheduler_run_once(s, 20070, 0), 1);
    assert_int_equal(f.events, 3);
    assert_string_equal(f.last_event, "Warning FailedScheduling: running Bind plugin "
                                      "\"DefaultBinder\": the binding request could not be sent");
    assert_string_equal(f.last_reason, "False SchedulerError");
    char *m = scheduler_bind_error_message(NULL);
    assert_string_equal(m, "running Bind plugin \"DefaultBinder\": the binding failed");
    free(m);
    char longer[2000];
    memset(longer, 'e', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    m = scheduler_bind_error_message(longer);
    assert_int_equal(strlen(m), 1024);
    assert_string_equal(m + 1020, " ...");
    free(m);
    cJSON_Delete(x);
    cJSON_Delete(bound);
    cJSON_Delete(w);
    cJSON_Delete(q);
    cJSON_Delete(p);
    cJSON_Delete(n1);
    scheduler_free(s);
}

/* Host ports and required anti-affinity of pods whose bindings are still out count for the
 * next pods, as do nominations after a failed binding. */
static void test_driver_in_flight_ports_affinity_nomination(void **state)
{
    (void)state;
    fake_api_t f = {.async = true};
    scheduler_ops_t ops = {fake_bind, fake_patch, fake_event, fake_delete};
    scheduler_t *s = scheduler_new(&ops, &f, 1);
    cJSON *n1 = node_json("n1", "8", "8Gi", "", ""), *n2 = node_json("n2", "8", "8Gi", "", "");
    scheduler_on_node(s, n1, false, 0);
    scheduler_on_node(s, n2, false, 0);
    const char *port = "'containers':[{'name':'c','image':'app','ports':[{'containerPort':80,"
                       "'hostPort':8080}]}]";
    cJSON *h[3];
    for (int i = 0; i < 3; i++) {
        h[i] = J("{'kind':'Pod','metadata':{'name':'h%d','namespace':'default','uid':'uid-h%d'},"
                 "'spec':{%s}}",
                 i, i, port);
        scheduler_on_pod(s, h[i], false, i);
    }
    assert_int_equal(scheduler_run_once(s, 10, 0), 1);
    assert_int_equal(scheduler_run_once(s, 10, 0), 1);
    assert_int_equal(f.binds, 2);
    assert_string_not_equal(f.sent[0][1], f.sent[1][1]); /* one host port per node */
    assert_int_equal(scheduler_run_once(s, 10, 0), 1);
    assert_int_equal(f.binds, 2);
    assert_string_equal(f.last_message,
                        "PodScheduled: 0/2 nodes are available: 2 node(s) didn't have free ports "
                        "for the requested pod ports. preemption: 0/2 nodes are available: 2 No "
                        "preemption victims found for incoming pod.");
    /* anti-affinity: a second "db" pod may not join the first while that one is in flight */
    const char *anti = "'containers':[{'name':'c','image':'app'}],'affinity':{'podAntiAffinity':"
                       "{'requiredDuringSchedulingIgnoredDuringExecution':[{'labelSelector':"
                       "{'matchLabels':{'app':'db'}},'topologyKey':'kubernetes.io/hostname'}]}}";
    cJSON *d[2];
    for (int i = 0; i < 2; i++) {
        d[i] = J("{'kind':'Pod','metadata':{'name':'d%d','namespace':'default','uid':'uid-d%d',"
                 "'labels':{'app':'db'}},'spec':{%s}}",
                 i, i, anti);
        scheduler_on_pod(s, d[i], false, 20);
    }
    assert_int_equal(scheduler_run_once(s, 20, 0), 1);
    assert_int_equal(scheduler_run_once(s, 20, 0), 1);
    assert_int_equal(f.binds, 4);
    assert_string_not_equal(f.sent[2][1], f.sent[3][1]);
    /* a nominated pod whose binding fails is nominated there again (its room stays kept) */
    cJSON *nom = pod_json("nom", "1", "", "", "");
    cJSON_AddItemToObject(nom, "status", J("{'nominatedNodeName':'n1'}"));
    scheduler_on_pod(s, nom, false, 30);
    assert_int_equal(scheduler_run_once(s, 30, 0), 1);
    assert_int_equal(f.binds, 5);
    scheduler_snapshot_t *snap = scheduler_get_snapshot(s);
    assert_true(scheduler_snapshot_is_assumed(snap, "default", "nom"));
    scheduler_bind_done(s, "default", "nom", "uid-nom", SCHEDULER_BIND_ERROR, NULL, 40, 0);
    assert_false(scheduler_snapshot_is_assumed(snap, "default", "nom"));
    /* a lower-priority pod asking for everything does not fit n1 beside the nomination */
    cJSON *big = pod_json("big", "7500m", "", "'priority':-1", "");
    char *m = scheduler_filter_node(snap, big, "n2");
    assert_null(m); /* n2 has room */
    scheduler_algo_t *a = scheduler_algo_new(1);
    scheduler_result_t r;
    scheduler_schedule(a, snap, big, &r);
    assert_true(r.scheduled);
    assert_string_equal(r.node, "n2"); /* n1's room is kept for "nom" */
    scheduler_result_free(&r);
    scheduler_algo_free(a);
    for (int i = 0; i < 3; i++)
        cJSON_Delete(h[i]);
    for (int i = 0; i < 2; i++)
        cJSON_Delete(d[i]);
    cJSON_Delete(nom);
    cJSON_Delete(big);
    cJSON_Delete(n1);
    cJSON_Delete(n2);
    scheduler_free(s);
}

/* ---- preemption --------------------------------------------------------------------------------
 */

static char *victim_names(const scheduler_result_t *r)
{
    util_buf_t b = {0};
    const cJSON *v;
    cJSON_ArrayForEach(v, r->victims)
    {
        util_buf_printf(
            &b, "%s%s", b.len ? "," : "",
            cJSON_GetObjectItem(cJSON_GetObjectItem(v, "metadata"), "name")->valuestring);
    }
    return b.data ? util_buf_steal(&b) : strdup("");
}

/* Runs a cycle for pod that must preempt: returns "node:victim,victim". */
static char *preempt_plan(scheduler_snapshot_t *s, const cJSON *pod)
{
    scheduler_algo_t *a = scheduler_algo_new(1);
    scheduler_result_t r;
    scheduler_schedule(a, s, pod, &r);
    assert_false(r.scheduled);
    if (!r.nominated_node)
        fail_msg("no nomination: %s", r.message);
    char *v = victim_names(&r);
    char *out = util_strdup_printf("%s:%s", r.nominated_node, v);
    free(v);
    scheduler_result_free(&r);
    scheduler_algo_free(a);
    return out;
}

static void test_preemption_victims_and_node_choice(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    add_node(s, "n1", "2", "4Gi", "", "");
    add_node(s, "n2", "2", "4Gi", "", "");
    /* n1: two priority-1 pods (a started first); n2: one priority-5 pod using all of it */
    add_pod(s, "a", "n1", "1", "", "'priority':1", "");
    add_pod(s, "b", "n1", "1", "", "'priority':1", "");
    add_pod(s, "c", "n2", "2", "", "'priority':5", "");
    cJSON *st = J("{'startTime':'2026-01-01T00:00:00Z'}");
    cJSON *pa = pod_json("a", "1", "", "'priority':1,'nodeName':'n1'", "");
    cJSON_AddItemToObject(pa, "status", st);
    assert_int_equal(scheduler_snapshot_set_pod(s, pa, NULL), 0);
    cJSON *pb = pod_json("b", "1", "", "'priority':1,'nodeName':'n1'", "");
    cJSON_AddItemToObject(pb, "status", J("{'startTime':'2026-01-02T00:00:00Z'}"));
    assert_int_equal(scheduler_snapshot_set_pod(s, pb, NULL), 0);
    /* one cpu at priority 10: n1 (highest victim priority 1 < 5), and only b, the newer one */
    cJSON *pod = pod_json("p", "1", "", "'priority':10", "");
    char *plan = preempt_plan(s, pod);
    assert_string_equal(plan, "n1:b");
    free(plan);
    /* the snapshot is as before: both pods still count on n1 */
    scheduler_resources_t r;
    assert_true(scheduler_snapshot_node_requested(s, "n1", &r));
    assert_int_equal(r.milli_cpu, 2000);
    assert_int_equal(r.pods, 2);
    /* two cpus: n1 needs both victims (sum 2) against n2's one of priority 5: still n1 */
    cJSON *big = pod_json("q", "2", "", "'priority':10", "");
    plan = preempt_plan(s, big);
    assert_true(strcmp(plan, "n1:a,b") == 0);
    free(plan);
    /* a pod of priority 3 cannot touch c: n1 again */
    cJSON *mid = pod_json("m", "2", "", "'priority':3", "");
    plan = preempt_plan(s, mid);
    assert_string_equal(plan, "n1:a,b");
    free(plan);
    /* priority 1 finds no lower-priority pods anywhere */
    cJSON *low = pod_json("l", "1", "", "'priority':1", "");
    char *m = schedule_message(s, low);
    assert_string_equal(m, "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are "
                           "available: 2 No preemption victims found for incoming pod.");
    free(m);
    /* preemptionPolicy Never */
    cJSON *never = pod_json("nv", "1", "", "'priority':10,'preemptionPolicy':'Never'", "");
    m = schedule_message(s, never);
    assert_string_equal(m, "0/2 nodes are available: 2 Insufficient cpu. preemption: not eligible "
                           "due to preemptionPolicy=Never.");
    free(m);
    cJSON *things[] = {pa, pb, pod, big, mid, low, never};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(things); i++)
        cJSON_Delete(things[i]);
    scheduler_snapshot_free(s);
}

static void test_preemption_respects_budgets(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    add_node(s, "n1", "1", "4Gi", "", "");
    add_node(s, "n2", "1", "4Gi", "", "");
    add_pod(s, "guarded", "n1", "1", "", "'priority':0", "'labels':{'app':'db'}");
    add_pod(s, "free", "n2", "1", "", "'priority':0", "'labels':{'app':'web'}");
    cJSON *pdb = J("{'kind':'PodDisruptionBudget','metadata':{'name':'db','namespace':'default'},"
                   "'spec':{'selector':{'matchLabels':{'app':'db'}}},"
                   "'status':{'disruptionsAllowed':0}}");
    assert_int_equal(scheduler_snapshot_set_object(s, pdb, NULL), 0);
    cJSON *pod = pod_json("p", "1", "", "'priority':10", "");
    char *plan = preempt_plan(s, pod);
    assert_string_equal(plan, "n2:free"); /* n1 would violate the budget */
    free(plan);
    /* with the budget allowing one disruption, both are equal: either node, one victim */
    scheduler_snapshot_remove_object(s, "PodDisruptionBudget", "default", "db");
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(pdb, "status"), "disruptionsAllowed",
                              cJSON_CreateNumber(1));
    assert_int_equal(scheduler_snapshot_set_object(s, pdb, NULL), 0);
    plan = preempt_plan(s, pod);
    assert_true(strcmp(plan, "n1:guarded") == 0 || strcmp(plan, "n2:free") == 0);
    free(plan);
    cJSON_Delete(pdb);
    cJSON_Delete(pod);
    scheduler_snapshot_free(s);
}

static void test_preemption_nominated_pods(void **state)
{
    (void)state;
    scheduler_snapshot_t *s = scheduler_snapshot_new();
    add_node(s, "n1", "2", "4Gi", "", "");
    /* p (priority 10) is nominated to n1 and waits there for its victims to go */
    cJSON *p = pod_json("p", "2", "", "'priority':10", "");
    cJSON_AddItemToObject(p, "status", J("{'nominatedNodeName':'n1'}"));
    scheduler_snapshot_set_nominated(s, p);
    /* a lower-priority pod may not take the room it waits for */
    cJSON *low = pod_json("low", "1", "", "'priority':0", "");
    char *m = schedule_message(s, low);
    assert_string_equal(m, "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are "
                           "available: 1 No preemption victims found for incoming pod.");
    free(m);
    /* p itself, and a pod of higher priority, see the node free */
    char *n = schedule_node(s, p, 1);
    assert_string_equal(n, "n1");
    free(n);
    cJSON *high = pod_json("high", "2", "", "'priority':20", "");
    n = schedule_node(s, high, 1);
    assert_string_equal(n, "n1");
    free(n);
    /* once p is bound (assumed) its nomination goes */
    assert_int_equal(scheduler_snapshot_assume(s, p, "n1", NULL), 0);
    scheduler_snapshot_remove_pod(s, "default", "p");
    n = schedule_node(s, low, 1);
    assert_string_equal(n, "n1");
    free(n);
    /* a terminating victim on the nominated node: wait rather than preempt again */
    add_pod(s, "v", "n1", "2", "", "'priority':0", "'deletionTimestamp':'2026-01-01T00:00:00Z'");
    cJSON *v = pod_json("v", "2", "", "'priority':0,'nodeName':'n1'",
                        "'deletionTimestamp':'2026-01-01T00:00:00Z'");
    cJSON_AddItemToObject(v, "status",
                          J("{'conditions':[{'type':'DisruptionTarget','status':'True',"
                            "'reason':'PreemptionByScheduler'}]}"));
    assert_int_equal(scheduler_snapshot_set_pod(s, v, NULL), 0);
    m = schedule_message(s, p);
    assert_string_equal(m, "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible "
                           "due to a terminating pod on the nominated node.");
    free(m);
    cJSON *things[] = {p, low, high, v};
    for (size_t i = 0; i < UTIL_ARRAY_SIZE(things); i++)
        cJSON_Delete(things[i]);
    scheduler_snapshot_free(s);
}

static void test_driver_preempts(void **state)
{
    (void)state;
    fake_api_t f = {0};
    scheduler_ops_t ops = {fake_bind, fake_patch, fake_event, fake_delete};
    scheduler_t *s = scheduler_new(&ops, &f, 1);
    cJSON *n = node_json("n1", "1", "4Gi", "", "");
    scheduler_on_node(s, n, false, 0);
    cJSON *victim = pod_json("v", "1", "", "'priority':0,'nodeName':'n1'", "");
    scheduler_on_pod(s, victim, false, 0);
    cJSON *pod = pod_json("p", "1", "", "'priority':100", "");
    scheduler_on_pod(s, pod, false, 0);
    assert_int_equal(scheduler_run_once(s, 0, 0), 1);
    assert_int_equal(f.binds, 0);
    assert_int_equal(f.deletes, 1);
    assert_string_equal(f.deleted, "default/v(uid-v)");
    /* the victim was marked first, then the preemptor's status got the nomination */
    assert_int_equal(f.patches, 2);
    assert_string_equal(f.nominated, "n1");
    assert_string_equal(f.last_message, "PodScheduled: 0/1 nodes are available: 1 Insufficient "
                                        "cpu.");
    assert_int_equal(f.events, 2); /* Preempted on the victim, FailedScheduling on the pod */
    /* the victim goes: the pod is bound to n1 */
    scheduler_on_pod(s, victim, true, 100);
    assert_int_equal(scheduler_run_once(s, 2000, 0), 1);
    assert_int_equal(f.binds, 1);
    assert_string_equal(f.last_node, "n1");
    cJSON_Delete(n);
    cJSON_Delete(victim);
    cJSON_Delete(pod);
    scheduler_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantity_values),
        cmocka_unit_test(test_quantity_hostile),
        cmocka_unit_test(test_requests_init_containers),
        cmocka_unit_test(test_filter_unschedulable_and_not_ready),
        cmocka_unit_test(test_filter_taints),
        cmocka_unit_test(test_filter_resources),
        cmocka_unit_test(test_filter_node_affinity),
        cmocka_unit_test(test_filter_ports),
        cmocka_unit_test(test_filter_inter_pod_affinity),
        cmocka_unit_test(test_filter_topology_spread),
        cmocka_unit_test(test_filter_volumes),
        cmocka_unit_test(test_summary_mixes),
        cmocka_unit_test(test_hostile_objects),
        cmocka_unit_test(test_score_resources),
        cmocka_unit_test(test_score_image_locality),
        cmocka_unit_test(test_score_affinity_and_taints),
        cmocka_unit_test(test_score_default_spreading),
        cmocka_unit_test(test_weights),
        cmocka_unit_test(test_schedule_prefers_least_allocated),
        cmocka_unit_test(test_schedule_ties_are_random_and_seeded),
        cmocka_unit_test(test_snapshot_orphans_and_node_removal),
        cmocka_unit_test(test_queue_priority_order),
        cmocka_unit_test(test_queue_priority_from_class),
        cmocka_unit_test(test_queue_backoff_and_events),
        cmocka_unit_test(test_queue_index_and_recreated_pod),
        cmocka_unit_test(test_queue_update_moves_unschedulable),
        cmocka_unit_test(test_binding_and_condition_json),
        cmocka_unit_test(test_pod_is_ours),
        cmocka_unit_test(test_driver_end_to_end),
        cmocka_unit_test(test_snapshot_pod_index),
        cmocka_unit_test(test_driver_bindings_in_flight),
        cmocka_unit_test(test_driver_bind_error_reported),
        cmocka_unit_test(test_driver_in_flight_ports_affinity_nomination),
        cmocka_unit_test(test_preemption_victims_and_node_choice),
        cmocka_unit_test(test_preemption_respects_budgets),
        cmocka_unit_test(test_preemption_nominated_pods),
        cmocka_unit_test(test_driver_preempts),
    };
    unit_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
