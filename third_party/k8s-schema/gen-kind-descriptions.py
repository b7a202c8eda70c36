#!/usr/bin/python3
"""gen-kind-descriptions.py: writes pkg/apiserver/apiserver_openapi_desc_gen.c, the descriptions
k8s_schema lacks (the python client's models drop them): each served kind's own description
(the text `kubectl explain pod` prints first), its List's, those of the types of its object
fields (PodSpec, PodStatus, ObjectMeta...), and the descriptions of fields whose type is
another object (metadata, spec, status, template...), for the kinds and every object type
their fields reach (Container, Probe...: `kubectl explain pod.spec.containers.livenessProbe`
prints the type's text too).

Inputs, both read-only:
  K8S_API       a checkout of github.com/kubernetes/api (types_swagger_doc_generated.go);
                ../apimachinery next to it for meta/v1 (ObjectMeta, ListMeta...)
  SCHEMA_TYPES  k8s_schema_types.c and k8s_schema_desc.c as gen-k8s-schema.py writes them
Usage: gen-kind-descriptions.py K8S_API APIMACHINERY SCHEMA_GEN_DIR > apiserver_openapi_desc_gen.c
Re-run when the served kinds or the k8s-schema version change.
"""
import json
import os
import re
import sys

# The kinds kubeling serves (apiserver_resources.c) and where upstream documents them.
SERVED = [
    ("", "v1", k) for k in ("ConfigMap Endpoints Event LimitRange Namespace Node PersistentVolume "
                            "PersistentVolumeClaim Pod PodTemplate ReplicationController "
                            "ResourceQuota Secret Service ServiceAccount Binding").split()
] + [
    ("apps", "v1", k) for k in "ControllerRevision DaemonSet Deployment ReplicaSet StatefulSet".split()
] + [
    ("autoscaling", "v1", "HorizontalPodAutoscaler"), ("autoscaling", "v2", "HorizontalPodAutoscaler"),
    ("autoscaling", "v1", "Scale"),
    ("batch", "v1", "CronJob"), ("batch", "v1", "Job"),
    ("coordination.k8s.io", "v1", "Lease"), ("discovery.k8s.io", "v1", "EndpointSlice"),
    ("events.k8s.io", "v1", "Event"),
    ("networking.k8s.io", "v1", "Ingress"), ("networking.k8s.io", "v1", "IngressClass"),
    ("networking.k8s.io", "v1", "NetworkPolicy"), ("policy", "v1", "PodDisruptionBudget"),
    ("policy", "v1", "Eviction"),
] + [
    ("rbac.authorization.k8s.io", "v1", k) for k in "ClusterRole ClusterRoleBinding Role RoleBinding".split()
] + [
    ("scheduling.k8s.io", "v1", "PriorityClass"), ("storage.k8s.io", "v1", "StorageClass"),
    ("authentication.k8s.io", "v1", "TokenRequest"),
]

PKG = {"": "core", "apps": "apps", "autoscaling": "autoscaling", "batch": "batch",
       "coordination.k8s.io": "coordination", "discovery.k8s.io": "discovery",
       "events.k8s.io": "events", "networking.k8s.io": "networking", "policy": "policy",
       "rbac.authorization.k8s.io": "rbac", "scheduling.k8s.io": "scheduling",
       "storage.k8s.io": "storage", "authentication.k8s.io": "authentication"}

MAP_RE = re.compile(r'^var map_(\w+) = map\[string\]string\{\n(.*?)^\}', re.M | re.S)
ENTRY_RE = re.compile(r'^\s*"([^"]*)":\s*("(?:[^"\\]|\\.)*"),?\s*$', re.M)


def swagger_docs(path):
    """{GoType: {field or "": text}} from one types_swagger_doc_generated.go."""
    out = {}
    with open(path) as f:
        text = f.read()
    for m in MAP_RE.finditer(text):
        out[m.group(1)] = {k: json.loads(v) for k, v in ENTRY_RE.findall(m.group(2))}
    return out


def schema_tables(gen):
    """Types (class name -> [(json, ref, has_description)]) and gvks from k8s_schema."""
    with open(os.path.join(gen, "k8s_schema_types.c")) as f:
        types_c = f.read()
    with open(os.path.join(gen, "k8s_schema_desc.c")) as f:
        desc_c = f.read()
    fields = re.findall(r'^\s*\{"([^"]+)", K8S_T_\w+, \d, \d, \d, (-?\d+)\},$',
                        types_c.split("k8s_schema_types_[]")[0], re.M)
    body = desc_c.split("descriptions[] = {", 1)[1].split("\n};", 1)[0]
    has = [not line.strip().startswith("NULL") for line in body.strip().split("\n")
           if line.strip() and (line.strip().startswith('"') or line.strip().startswith("NULL"))]
    assert len(has) == len(fields), (len(has), len(fields))
    types = []
    for name, first, n in re.findall(r'^\s*\{"(\w+)", &fields\[(\d+)\], (\d+)\},$', types_c, re.M):
        first, n = int(first), int(n)
        types.append((name, [(fields[i][0], int(fields[i][1]), has[i]) for i in range(first, first + n)]))
    gvks = {}
    for g, v, k, ref in re.findall(r'^\s*\{"([^"]*)", "(\w+)", "(\w+)", (?:"\w+"|NULL), \d, (\d+)\},$',
                                   types_c, re.M):
        gvks[(g, v, k)] = int(ref)
    return types, gvks


def go_name(cls, version):
    """V1PodSpec -> PodSpec; CoreV1EventSeries -> EventSeries."""
    i = cls.find(version[0].upper() + version[1:])
    return cls[i + len(version):] if i >= 0 else cls


def main():
    api, machinery, gen = sys.argv[1:4]
    types, gvks = schema_tables(gen)
    docs = {}
    meta = swagger_docs(os.path.join(machinery, "pkg/apis/meta/v1/types_swagger_doc_generated.go"))
    out = {}

    def add(cls, field, text):
        if text:
            out[(cls, field)] = text.strip()

    # Every package's docs, so that a type used across packages (PodTemplateSpec in apps,
    # LabelSelector from meta) is found; a Go name documented by several packages is taken
    # only from the package of the kind that uses it.
    for pkgdir in sorted(set(PKG.values())):
        for ver in sorted(os.listdir(os.path.join(api, pkgdir))):
            path = os.path.join(api, pkgdir, ver, "types_swagger_doc_generated.go")
            if os.path.exists(path) and path not in docs:
                docs[path] = swagger_docs(path)
    owners = {}
    for path, d in docs.items():
        ver = os.path.basename(os.path.dirname(path))
        for g in d:
            owners.setdefault((g, ver), []).append(d)
    seen = set()

    def describe(ref, d):
        """The type at ref and, recursively, every object type its fields reach."""
        if ref in seen:
            return
        seen.add(ref)
        cls, flds = types[ref]
        ver = version_of(cls)
        g = go_name(cls, ver)
        cands = owners.get((g, ver), [])
        doc = d.get(g) or meta.get(g) or (cands[0].get(g) if len(cands) == 1 else None)
        if not doc:
            return
        add(cls, "", doc.get(""))
        for json_name, fref, has in flds:
            if fref >= 0 and not has:
                add(cls, json_name, doc.get(json_name))
            if fref >= 0:
                describe(fref, d)

    def version_of(cls):
        m = re.search(r'V\d+(?:(?:alpha|beta)\d+)?', cls)
        return m.group(0).lower() if m else "v1"

    for g, v, k in SERVED:
        pkg = os.path.join(api, PKG[g], v, "types_swagger_doc_generated.go")
        if pkg not in docs:
            docs[pkg] = swagger_docs(pkg)
        d = docs[pkg]
        for kind in (k, k + "List"):
            ref = gvks.get((g, v, kind))
            if ref is None:
                continue
            describe(ref, d)
    print("/* Generated by third_party/k8s-schema/gen-kind-descriptions.py from kubernetes/api and")
    print(" * kubernetes/apimachinery (types_swagger_doc_generated.go). Do not edit. */")
    print('#include "apiserver_openapi_desc.h"')
    print()
    print("const apiserver_openapi_desc_t apiserver_openapi__descs[] = {")
    for (cls, field), text in sorted(out.items()):
        print("    {%s, %s, %s}," % (json.dumps(cls), json.dumps(field), json.dumps(text)))
    print("};")
    print("const unsigned apiserver_openapi__ndescs = %d;" % len(out))


main()
