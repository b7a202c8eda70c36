/* test_controller_endpoints: what the Endpoints/EndpointSlice controllers compute (pods that
 * count, named ports per pod, ready/not-ready, headless, publishNotReadyAddresses, the 1000
 * address cap, slice conditions and the slice plan, trigger times) and the node lifecycle rules
 * (tolerations and eviction delays, Unknown conditions, taints by condition, durations). */
#include "unit.h"
#include "controller/controller.h"

#include <errno.h>
#include <string.h>

/* JSON with single quotes for readability. */
static cJSON *json(const char *text)
{
    char *t = strdup(text);
    for (char *p = t; *p; p++)
        if (*p == '\'')
            *p = '"';
    cJSON *j = cJSON_Parse(t);
    if (!j)
        fail_msg("bad JSON: %s", t);
    free(t);
    return j;
}

/* A pod named name with ip ("" none), ready, phase, extra metadata and spec members. */
static cJSON *pod(const char *name, const char *ip, bool ready, const char *phase,
                  const char *meta_extra, const char *spec_extra)
{
    char buf[2048];
    snprintf(buf, sizeof(buf),
             "{'metadata':{'name':'%s','namespace':'ns','uid':'uid-%s','creationTimestamp':"
             "'2026-01-01T00:00:00Z'%s},'spec':{'nodeName':'n1','containers':[{'name':'c',"
             "'ports':[{'name':'http','containerPort':8080},{'name':'dns','containerPort':53,"
             "'protocol':'UDP'}]}]%s},'status':{'phase':'%s'%s%s%s,'conditions':[{'type':'Ready',"
             "'status':'%s','lastTransitionTime':'2026-01-01T00:01:00Z'}]}}",
             name, name, meta_extra, spec_extra, phase, *ip ? ",'podIP':'" : "", ip, *ip ? "'" : "",
             ready ? "True" : "False");
    return json(buf);
}

static char *print(const cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    for (char *p = s; *p; p++)
        if (*p == '"')
            *p = '\'';
    return s;
}

static void expect_json(const cJSON *got, const char *want)
{
    char *g = print(got);
    if (strcmp(g, want))
        fail_msg("got  %s\nwant %s", g, want);
    free(g);
}

static void free_pods(cJSON **pods, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cJSON_Delete(pods[i]);
}

static void endpoints_ready_and_not_ready(void **state)
{
    (void)state;
    cJSON *svc = json("{'metadata':{'name':'web','namespace':'ns'},'spec':{'selector':{'a':'b'},"
                      "'ports':[{'name':'web','port':80,'targetPort':'http'}]}}");
    cJSON *pods[] = {
        pod("a", "10.0.0.2", true, "Running", "", ""),
        pod("b", "10.0.0.10", false, "Running", "", ""),
        pod("noip", "", true, "Pending", "", ""),
        pod("done", "10.0.0.3", false, "Succeeded", "", ""),
        pod("term", "10.0.0.4", true, "Running", ",'deletionTimestamp':'2026-01-01T00:02:00Z'", ""),
        pod("f", "10.0.0.9", true, "Running", "", ""),
    };
    bool trunc = true;
    cJSON *subsets = controller_endpoints_subsets(svc, (const cJSON *const *)pods, 6, &trunc);
    assert_false(trunc);
    expect_json(subsets,
                "[{'addresses':[{'ip':'10.0.0.2','nodeName':'n1','targetRef':{'kind':'Pod',"
                "'namespace':'ns','name':'a','uid':'uid-a'}},{'ip':'10.0.0.9','nodeName':'n1',"
                "'targetRef':{'kind':'Pod','namespace':'ns','name':'f','uid':'uid-f'}}],"
                "'notReadyAddresses':[{'ip':'10.0.0.10','nodeName':'n1','targetRef':{'kind':"
                "'Pod','namespace':'ns','name':'b','uid':'uid-b'}}],'ports':[{'name':'web',"
                "'port':8080,'protocol':'TCP'}]}]");
    cJSON_Delete(subsets);
    /* the trigger time: the earliest change newer than the previous one */
    assert_int_equal(controller_endpoints_trigger_time(svc, (const cJSON *const *)pods, 6, -1),
                     controller_parse_time("2026-01-01T00:01:00Z"));
    assert_int_equal(
        controller_endpoints_trigger_time(svc, (const cJSON *const *)pods, 6,
                                          controller_parse_time("2026-01-01T00:05:00Z")),
        controller_parse_time("2026-01-01T00:05:00Z"));
    free_pods(pods, 6);
    cJSON_Delete(svc);
}

static void named_ports_resolve_per_pod(void **state)
{
    (void)state;
    cJSON *svc = json("{'metadata':{'name':'s','namespace':'ns'},'spec':{'ports':["
                      "{'name':'web','port':80,'targetPort':'http'},"
                      "{'name':'dns','port':53,'protocol':'UDP','targetPort':'dns'}]}}");
    cJSON *other = json("{'metadata':{'name':'o','namespace':'ns','uid':'uid-o'},'spec':{"
                        "'containers':[{'name':'c','ports':[{'name':'http','containerPort':"
                        "9000}]}]},'status':{'phase':'Running','podIP':'10.0.0.7','conditions':"
                        "[{'type':'Ready','status':'True'}]}}");
    cJSON *none = json("{'metadata':{'name':'x','namespace':'ns'},'spec':{'containers':[{"
                       "'name':'c'}]},'status':{'podIP':'10.0.0.8'}}");
    cJSON *p = pod("p", "10.0.0.1", true, "Running", "", "");
    /* a sidecar (init container that keeps running) is searched too */
    cJSON *side = json("{'metadata':{'name':'sc','namespace':'ns'},'spec':{'initContainers':[{"
                       "'name':'i','restartPolicy':'Always','ports':[{'name':'http',"
                       "'containerPort':7070}]}],'containers':[{'name':'c'}]}}");
    const cJSON *web =
        cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(svc, "spec"), "ports"), 0);
    assert_int_equal(controller_find_port(p, web), 8080);
    assert_int_equal(controller_find_port(other, web), 9000);
    assert_int_equal(controller_find_port(none, web), -1);
    assert_int_equal(controller_find_port(side, web), 7070);
    cJSON *num = json("{'port':80,'targetPort':8443}"), *dflt = json("{'port':81}");
    assert_int_equal(controller_find_port(none, num), 8443);
    assert_int_equal(controller_find_port(none, dflt), 81);
    const cJSON *pods[] = {p, other, none};
    bool trunc;
    cJSON *subsets = controller_endpoints_subsets(svc, pods, 3, &trunc);
    assert_int_equal(cJSON_GetArraySize(subsets), 2);
    cJSON *groups = controller_slice_groups(svc, pods, 3, NULL);
    char *g = print(groups);
    assert_non_null(strstr(g, "'ports':[{'name':'dns','port':53,'protocol':'UDP'},{'name':'web',"
                              "'port':8080,'protocol':'TCP'}]"));
    assert_non_null(strstr(g, "'ports':[{'name':'web','port':9000,'protocol':'TCP'}]"));
    assert_null(strstr(g, "10.0.0.8"));
    free(g);
    cJSON_Delete(groups);
    cJSON_Delete(subsets);
    cJSON_Delete(num);
    cJSON_Delete(dflt);
    cJSON_Delete(side);
    cJSON_Delete(p);
    cJSON_Delete(none);
    cJSON_Delete(other);
    cJSON_Delete(svc);
}

static void headless_publish_and_hostnames(void **state)
{
    (void)state;
    cJSON *svc = json("{'metadata':{'name':'db','namespace':'ns'},'spec':{'clusterIP':'None',"
                      "'publishNotReadyAddresses':true,'selector':{'a':'b'}}}");
    assert_true(controller_service_headless(svc));
    cJSON *pods[] = {
        pod("db-0", "10.0.0.5", false, "Running", "", ",'hostname':'db-0','subdomain':'db'"),
        pod("db-1", "10.0.0.6", true, "Running", ",'deletionTimestamp':'2026-01-01T00:02:00Z'",
            ",'hostname':'db-1','subdomain':'other'"),
    };
    bool trunc;
    cJSON *subsets = controller_endpoints_subsets(svc, (const cJSON *const *)pods, 2, &trunc);
    /* published although not ready or terminating; no ports; hostname only under its subdomain */
    expect_json(subsets, "[{'addresses':[{'ip':'10.0.0.5','hostname':'db-0','nodeName':'n1',"
                         "'targetRef':{'kind':'Pod','namespace':'ns','name':'db-0','uid':"
                         "'uid-db-0'}},{'ip':'10.0.0.6','nodeName':'n1','targetRef':{'kind':"
                         "'Pod','namespace':'ns','name':'db-1','uid':'uid-db-1'}}]}]");
    cJSON_Delete(subsets);
    cJSON *groups = controller_slice_groups(svc, (const cJSON *const *)pods, 2, NULL);
    expect_json(groups,
                "[{'key':'[]','ports':[],'endpoints':[{'addresses':['10.0.0.5'],'conditions':{"
                "'ready':true,'serving':true,'terminating':false},'hostname':'db-0','nodeName':"
                "'n1','targetRef':{'kind':'Pod','namespace':'ns','name':'db-0','uid':'uid-db-0'}"
                "},{'addresses':['10.0.0.6'],'conditions':{'ready':true,'serving':true,"
                "'terminating':true},'nodeName':'n1','targetRef':{'kind':'Pod','namespace':"
                "'ns','name':'db-1','uid':'uid-db-1'}}]}]");
    cJSON_Delete(groups);
    free_pods(pods, 2);
    cJSON_Delete(svc);
}

static void slice_conditions_of_terminating_pods(void **state)
{
    (void)state;
    cJSON *svc = json("{'metadata':{'name':'s','namespace':'ns'},'spec':{'selector':{'a':'b'},"
                      "'ports':[{'port':80,'targetPort':8080}]}}");
    cJSON *pods[] = {
        pod("t", "10.0.0.1", true, "Running", ",'deletionTimestamp':'2026-01-01T00:02:00Z'", ""),
        pod("u", "10.0.0.2", false, "Running", ",'deletionTimestamp':'2026-01-01T00:02:00Z'", ""),
    };
    cJSON *zones = json("{'n1':'zone-a'}");
    cJSON *groups = controller_slice_groups(svc, (const cJSON *const *)pods, 2, zones);
    cJSON_Delete(zones);
    cJSON *eps = cJSON_GetObjectItem(cJSON_GetArrayItem(groups, 0), "endpoints");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(eps, 0), "zone")), "zone-a");
    expect_json(cJSON_GetObjectItem(cJSON_GetArrayItem(eps, 0), "conditions"),
                "{'ready':false,'serving':true,'terminating':true}");
    expect_json(cJSON_GetObjectItem(cJSON_GetArrayItem(eps, 1), "conditions"),
                "{'ready':false,'serving':false,'terminating':true}");
    /* terminating pods are not in Endpoints */
    bool trunc;
    cJSON *subsets = controller_endpoints_subsets(svc, (const cJSON *const *)pods, 2, &trunc);
    assert_int_equal(cJSON_GetArraySize(subsets), 0);
    cJSON_Delete(subsets);
    cJSON_Delete(groups);
    free_pods(pods, 2);
    cJSON_Delete(svc);
}

static void endpoints_capped_at_1000(void **state)
{
    (void)state;
    cJSON *svc = json("{'metadata':{'name':'s','namespace':'ns'},'spec':{'ports':[{'port':80}]}}");
    enum { N = 1003 };
    cJSON **pods = calloc(N, sizeof(*pods));
    for (int i = 0; i < N; i++) {
        char name[16], ip[32];
        snprintf(name, sizeof(name), "p%d", i);
        snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 250, i % 250 + 1);
        pods[i] = pod(name, ip, i >= 10, "Running", "", ""); /* 10 not ready */
    }
    bool trunc = false;
    cJSON *subsets = controller_endpoints_subsets(svc, (const cJSON *const *)pods, N, &trunc);
    assert_true(trunc);
    cJSON *s = cJSON_GetArrayItem(subsets, 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "addresses")), 993);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(s, "notReadyAddresses")), 7);
    cJSON_Delete(subsets);
    /* slices: 100 endpoints each */
    cJSON *groups = controller_slice_groups(svc, (const cJSON *const *)pods, N, NULL);
    cJSON *plan = controller_slice_plan(groups, NULL, 0);
    assert_int_equal(cJSON_GetArraySize(plan), 11);
    const cJSON *it;
    int total = 0;
    cJSON_ArrayForEach(it, plan)
    {
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(it, "op")), "create");
        int n = cJSON_GetArraySize(cJSON_GetObjectItem(it, "endpoints"));
        assert_true(n <= CONTROLLER_SLICE_MAX_ENDPOINTS);
        total += n;
    }
    assert_int_equal(total, N);
    cJSON_Delete(plan);
    cJSON_Delete(groups);
    free_pods(pods, N);
    free(pods);
    cJSON_Delete(svc);
}

static void slice_plan_keeps_endpoints_in_place(void **state)
{
    (void)state;
    cJSON *svc = json("{'metadata':{'name':'s','namespace':'ns'},'spec':{'ports':[{'port':80}]}}");
    cJSON *pods[] = {pod("a", "10.0.0.1", true, "Running", "", ""),
                     pod("b", "10.0.0.2", true, "Running", "", ""),
                     pod("c", "10.0.0.3", true, "Running", "", "")};
    cJSON *groups = controller_slice_groups(svc, (const cJSON *const *)pods, 3, NULL);
    /* s1 holds b, s2 holds a stale endpoint, s3 has other ports */
    cJSON *s1 = json("{'metadata':{'name':'s1'},'ports':[{'port':80,'protocol':'TCP','name':''}],"
                     "'endpoints':[{'addresses':['10.0.0.2'],'targetRef':{'uid':'uid-b'}}]}");
    cJSON *s2 = json("{'metadata':{'name':'s2'},'ports':[{'port':80}],"
                     "'endpoints':[{'addresses':['10.0.0.9'],'targetRef':{'uid':'uid-z'}}]}");
    cJSON *s3 = json("{'metadata':{'name':'s3'},'ports':[{'port':81}],'endpoints':[]}");
    const cJSON *slices[] = {s1, s2, s3};
    cJSON *plan = controller_slice_plan(groups, slices, 3);
    char *p = print(plan);
    /* b stays in s1 first; a and c fill s1 (room), s2 is emptied and goes, so does s3 */
    assert_int_equal(cJSON_GetArraySize(plan), 3);
    const cJSON *u1 = cJSON_GetArrayItem(plan, 0);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(u1, "op")), "update");
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(u1, "name")), "s1");
    const cJSON *eps = cJSON_GetObjectItem(u1, "endpoints");
    assert_int_equal(cJSON_GetArraySize(eps), 3);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetArrayItem(
                            cJSON_GetObjectItem(cJSON_GetArrayItem(eps, 0), "addresses"), 0)),
                        "10.0.0.2");
    assert_non_null(strstr(p, "{'op':'delete','name':'s2'"));
    assert_non_null(strstr(p, "{'op':'delete','name':'s3'"));
    free(p);
    cJSON_Delete(plan);
    cJSON_Delete(groups);
    /* no endpoints at all: one placeholder (no ports), the rest deleted */
    cJSON *empty = cJSON_CreateArray();
    plan = controller_slice_plan(empty, slices, 3);
    p = print(plan);
    assert_non_null(strstr(p, "{'op':'update','name':'s1','endpoints':[],'index':0,'ports':[]}"));
    assert_non_null(strstr(p, "{'op':'delete','name':'s2'"));
    assert_non_null(strstr(p, "{'op':'delete','name':'s3'"));
    free(p);
    cJSON_Delete(plan);
    plan = controller_slice_plan(empty, NULL, 0);
    assert_int_equal(cJSON_GetArraySize(plan), 1);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(plan, 0), "op")), "create");
    cJSON_Delete(plan);
    cJSON_Delete(empty);
    cJSON_Delete(s1);
    cJSON_Delete(s2);
    cJSON_Delete(s3);
    free_pods(pods, 3);
    cJSON_Delete(svc);
}

static void mirrored_endpoints(void **state)
{
    (void)state;
    cJSON *eps = json("{'subsets':[{'addresses':[{'ip':'10.0.0.9','hostname':'h','nodeName':"
                      "'n1','targetRef':{'kind':'Pod','name':'p'}},{'ip':'fd00::1'},{'ip':"
                      "'10.0.0.2'}],'notReadyAddresses':[{'ip':'10.0.0.5'}],'ports':[{'name':"
                      "'http','port':80}]},{'addresses':[{'ip':'10.0.0.3'}],'ports':[{'name':"
                      "'http','port':80,'protocol':'TCP'}]}]}");
    cJSON *groups = controller_mirror_groups(eps);
    /* subsets with the same ports share a group; IPv6 is skipped; sorted by address */
    expect_json(groups, "[{'key':'[{\\'name\\':\\'http\\',\\'port\\':80,\\'protocol\\':"
                        "\\'TCP\\'}]','ports':[{'name':'http','port':80,'protocol':'TCP'}],"
                        "'endpoints':[{'addresses':['10.0.0.2'],'conditions':{'ready':true}},"
                        "{'addresses':['10.0.0.3'],'conditions':{'ready':true}},"
                        "{'addresses':['10.0.0.5'],'conditions':{'ready':false}},"
                        "{'addresses':['10.0.0.9'],'conditions':{'ready':true},'hostname':'h',"
                        "'nodeName':'n1','targetRef':{'kind':'Pod','name':'p'}}]}]");
    cJSON_Delete(groups);
    cJSON_Delete(eps);
}

static void selector_maps(void **state)
{
    (void)state;
    cJSON *p = json("{'metadata':{'labels':{'app':'web','tier':'fe'}}}");
    cJSON *yes = json("{'app':'web'}"), *no = json("{'app':'db'}"), *empty = json("{}");
    assert_true(controller_selector_map_matches(yes, p));
    assert_false(controller_selector_map_matches(no, p));
    assert_false(controller_selector_map_matches(empty, p)); /* selects nothing */
    assert_false(controller_selector_map_matches(NULL, p));
    cJSON_Delete(p);
    cJSON_Delete(yes);
    cJSON_Delete(no);
    cJSON_Delete(empty);
}

/* ---- node lifecycle -------------------------------------------------------------------------- */

static int64_t delay_for(const char *tolerations, const char *taints)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "{'spec':{'tolerations':%s}}", tolerations);
    cJSON *p = json(buf), *t = json(taints);
    int64_t d = controller_eviction_delay(p, t);
    cJSON_Delete(p);
    cJSON_Delete(t);
    return d;
}

static void tolerations_and_eviction_delays(void **state)
{
    (void)state;
    const char *unreach = "[{'key':'node.kubernetes.io/unreachable','effect':'NoExecute'}]";
    assert_int_equal(delay_for("[]", unreach), 0);
    assert_int_equal(delay_for("[{'key':'node.kubernetes.io/unreachable','operator':'Exists',"
                               "'effect':'NoExecute','tolerationSeconds':2}]",
                               unreach),
                     2);
    /* tolerated forever */
    assert_int_equal(
        delay_for("[{'key':'node.kubernetes.io/unreachable','operator':'Exists'}]", unreach), -1);
    assert_int_equal(delay_for("[{'operator':'Exists'}]", unreach), -1);
    /* the least tolerationSeconds of the tolerations used */
    assert_int_equal(delay_for("[{'operator':'Exists','tolerationSeconds':30},{'key':"
                               "'node.kubernetes.io/unreachable','operator':'Exists',"
                               "'tolerationSeconds':5}]",
                               unreach),
                     5);
    assert_int_equal(delay_for("[{'operator':'Exists','tolerationSeconds':-4}]", unreach), 0);
    /* NoSchedule taints do not evict; one untolerated NoExecute taint does, at once */
    assert_int_equal(delay_for("[]", "[{'key':'x','effect':'NoSchedule'}]"), -1);
    assert_int_equal(delay_for("[{'key':'gpu','operator':'Equal','value':'a','effect':"
                               "'NoExecute','tolerationSeconds':9}]",
                               "[{'key':'gpu','value':'b','effect':'NoExecute'}]"),
                     0);
    assert_int_equal(delay_for("[{'key':'gpu','value':'b','tolerationSeconds':9}]",
                               "[{'key':'gpu','value':'b','effect':'NoExecute'},{'key':"
                               "'other','effect':'NoExecute'}]"),
                     0);
    assert_int_equal(delay_for("[{'key':'gpu','value':'b','effect':'NoSchedule'}]",
                               "[{'key':'gpu','value':'b','effect':'NoExecute'}]"),
                     0);
}

static void conditions_go_unknown(void **state)
{
    (void)state;
    cJSON *node = json("{'metadata':{'creationTimestamp':'2026-01-01T00:00:00Z'},'status':{"
                       "'conditions':[{'type':'Ready','status':'True','reason':'KubeletReady',"
                       "'lastHeartbeatTime':'2026-01-01T00:00:10Z'},{'type':'MemoryPressure',"
                       "'status':'False'},{'type':'DiskPressure','status':'Unknown'}]}}");
    bool changed = false;
    int64_t now = controller_parse_time("2026-01-01T00:01:00Z");
    cJSON *c = controller_node_conditions_unknown(node, now, &changed);
    assert_true(changed);
    expect_json(cJSON_GetArrayItem(c, 0),
                "{'type':'Ready','lastHeartbeatTime':'2026-01-01T00:00:10Z','status':'Unknown',"
                "'reason':'NodeStatusUnknown','message':'Kubelet stopped posting node status.',"
                "'lastTransitionTime':'2026-01-01T00:01:00Z'}");
    expect_json(cJSON_GetArrayItem(c, 2), "{'type':'DiskPressure','status':'Unknown'}");
    expect_json(cJSON_GetArrayItem(c, 3),
                "{'type':'PIDPressure','status':'Unknown','reason':'NodeStatusNeverUpdated',"
                "'message':'Kubelet never posted node status.','lastHeartbeatTime':"
                "'2026-01-01T00:00:00Z','lastTransitionTime':'2026-01-01T00:01:00Z'}");
    /* once Unknown, nothing changes */
    cJSON *again = json("{'status':{}}");
    cJSON_AddItemToObject(cJSON_GetObjectItem(again, "status"), "conditions", c);
    cJSON *c2 = controller_node_conditions_unknown(again, now + 5, &changed);
    assert_false(changed);
    cJSON_Delete(c2);
    cJSON_Delete(again);
    cJSON_Delete(node);
}

static char *taint_list(const cJSON *taints)
{
    char buf[1024] = "";
    const cJSON *t;
    cJSON_ArrayForEach(t, taints)
    {
        const cJSON *ta = cJSON_GetObjectItem(t, "timeAdded");
        size_t l = strlen(buf);
        snprintf(buf + l, sizeof(buf) - l, "%s:%s%s ",
                 cJSON_GetStringValue(cJSON_GetObjectItem(t, "key")),
                 cJSON_GetStringValue(cJSON_GetObjectItem(t, "effect")), ta ? "@" : "");
    }
    return strdup(buf);
}

static void expect_taints(const char *node, bool want_changed, const char *want)
{
    cJSON *n = json(node);
    bool changed;
    cJSON *t = controller_node_taints(n, 100, &changed);
    char *got = taint_list(t);
    if (strcmp(got, want) || changed != want_changed)
        fail_msg("taints: got '%s' (changed %d), want '%s' (changed %d)", got, changed, want,
                 want_changed);
    free(got);
    cJSON_Delete(t);
    cJSON_Delete(n);
}

static void taints_follow_conditions(void **state)
{
    (void)state;
    expect_taints("{'status':{'conditions':[{'type':'Ready','status':'Unknown'}]}}", true,
                  "node.kubernetes.io/unreachable:NoExecute@ "
                  "node.kubernetes.io/unreachable:NoSchedule ");
    expect_taints("{'spec':{'taints':[{'key':'node.kubernetes.io/unreachable','effect':"
                  "'NoExecute'}]},'status':{'conditions':[{'type':'Ready','status':'False'}]}}",
                  true,
                  "node.kubernetes.io/not-ready:NoExecute@ "
                  "node.kubernetes.io/not-ready:NoSchedule ");
    /* back to Ready: the controller's taints go, the user's stay */
    expect_taints("{'spec':{'taints':[{'key':'node.kubernetes.io/unreachable','effect':"
                  "'NoExecute'},{'key':'mine','effect':'NoSchedule'}]},'status':{'conditions':"
                  "[{'type':'Ready','status':'True'}]}}",
                  true, "mine:NoSchedule ");
    expect_taints("{'spec':{'unschedulable':true},'status':{'conditions':[{'type':'Ready',"
                  "'status':'True'},{'type':'DiskPressure','status':'True'}]}}",
                  true,
                  "node.kubernetes.io/disk-pressure:NoSchedule "
                  "node.kubernetes.io/unschedulable:NoSchedule ");
    expect_taints("{'spec':{'taints':[{'key':'node.kubernetes.io/unschedulable','effect':"
                  "'NoSchedule'}],'unschedulable':true},'status':{'conditions':[{'type':"
                  "'Ready','status':'True'}]}}",
                  false, "node.kubernetes.io/unschedulable:NoSchedule ");
    expect_taints("{'status':{'conditions':[{'type':'Ready','status':'True'}]}}", false, "");
}

static void durations_parse_like_go(void **state)
{
    (void)state;
    uint64_t ms = 0;
    assert_int_equal(controller_parse_duration_ms("40s", &ms), 0);
    assert_int_equal(ms, 40000);
    assert_int_equal(controller_parse_duration_ms("1m30s", &ms), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(controller_parse_duration_ms("500ms", &ms), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(controller_parse_duration_ms("1.5s", &ms), 0);
    assert_int_equal(ms, 1500);
    assert_int_equal(controller_parse_duration_ms("2h", &ms), 0);
    assert_int_equal(ms, 7200000);
    assert_int_equal(controller_parse_duration_ms("40", &ms), -EINVAL);
    assert_int_equal(controller_parse_duration_ms("", &ms), -EINVAL);
    assert_int_equal(controller_parse_duration_ms("s", &ms), -EINVAL);
    assert_int_equal(controller_parse_duration_ms("-1s", &ms), -EINVAL);
    assert_int_equal(controller_parse_duration_ms("99999999h", &ms), -ERANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(endpoints_ready_and_not_ready),
        cmocka_unit_test(named_ports_resolve_per_pod),
        cmocka_unit_test(headless_publish_and_hostnames),
        cmocka_unit_test(slice_conditions_of_terminating_pods),
        cmocka_unit_test(endpoints_capped_at_1000),
        cmocka_unit_test(slice_plan_keeps_endpoints_in_place),
        cmocka_unit_test(mirrored_endpoints),
        cmocka_unit_test(selector_maps),
        cmocka_unit_test(tolerations_and_eviction_delays),
        cmocka_unit_test(conditions_go_unknown),
        cmocka_unit_test(taints_follow_conditions),
        cmocka_unit_test(durations_parse_like_go),
    };
    unit_filter_from_env();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
