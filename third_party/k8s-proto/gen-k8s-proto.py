#!/usr/bin/python3
"""gen-k8s-proto.py SRC OUTDIR: writes OUTDIR/k8s_proto_table.c, the protobuf message tables of
the Kubernetes API groups kubeling serves, for decoding application/vnd.kubernetes.protobuf
request bodies into the JSON the Go types would marshal to.

SRC is the gocode root of Debian's golang-k8s-api-dev and golang-k8s-apimachinery-dev
(SRC/k8s.io/...). The wire layout (messages, field numbers, types, repeated, map) comes from each
package's generated.proto; the JSON side (JSON name, omitempty, pointer, ",inline") comes from
the struct tags of the package's Go types, which name each field's protobuf number. Standard
library only."""
import os
import re
import sys

# (go package dir, apiVersion or None for the apimachinery packages)
PACKAGES = [
    ("k8s.io/apimachinery/pkg/apis/meta/v1", None),
    ("k8s.io/apimachinery/pkg/api/resource", None),
    ("k8s.io/apimachinery/pkg/util/intstr", None),
    ("k8s.io/apimachinery/pkg/runtime", None),
    ("k8s.io/apimachinery/pkg/runtime/schema", None),
    ("k8s.io/api/core/v1", "v1"),
    ("k8s.io/api/apps/v1", "apps/v1"),
    ("k8s.io/api/batch/v1", "batch/v1"),
    ("k8s.io/api/autoscaling/v2", "autoscaling/v2"),
    ("k8s.io/api/policy/v1", "policy/v1"),
    ("k8s.io/api/autoscaling/v1", "autoscaling/v1"),
    ("k8s.io/api/authentication/v1", "authentication.k8s.io/v1"),
    ("k8s.io/api/authorization/v1", "authorization.k8s.io/v1"),
    ("k8s.io/api/rbac/v1", "rbac.authorization.k8s.io/v1"),
    ("k8s.io/api/networking/v1", "networking.k8s.io/v1"),
    ("k8s.io/api/storage/v1", "storage.k8s.io/v1"),
    ("k8s.io/api/coordination/v1", "coordination.k8s.io/v1"),
    ("k8s.io/api/discovery/v1", "discovery.k8s.io/v1"),
    ("k8s.io/api/events/v1", "events.k8s.io/v1"),
    ("k8s.io/api/scheduling/v1", "scheduling.k8s.io/v1"),
]

SCALARS = {
    "string": "K8S_PB_STRING", "bytes": "K8S_PB_BYTES", "bool": "K8S_PB_BOOL",
    "int32": "K8S_PB_INT32", "int64": "K8S_PB_INT64", "uint32": "K8S_PB_UINT32",
    "uint64": "K8S_PB_UINT64", "double": "K8S_PB_DOUBLE", "float": "K8S_PB_FLOAT",
}

MP = "k8s.io.apimachinery.pkg.apis.meta.v1."
SPECIAL = {
    MP + "Time": "K8S_PB_SPECIAL_TIME",
    MP + "MicroTime": "K8S_PB_SPECIAL_MICROTIME",
    MP + "Duration": "K8S_PB_SPECIAL_DURATION",
    MP + "FieldsV1": "K8S_PB_SPECIAL_RAWJSON",
    "k8s.io.apimachinery.pkg.runtime.RawExtension": "K8S_PB_SPECIAL_RAWJSON",
    "k8s.io.apimachinery.pkg.api.resource.Quantity": "K8S_PB_SPECIAL_QUANTITY",
    "k8s.io.apimachinery.pkg.api.resource.QuantityValue": "K8S_PB_SPECIAL_QUANTITY",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "K8S_PB_SPECIAL_INTORSTRING",
}

FIELD_RE = re.compile(
    r"^\s*(optional|repeated|required)?\s*(map<\s*([\w.]+)\s*,\s*([\w.]+)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)\s*;")
GO_FIELD_RE = re.compile(r"^\s*(?:(\w+)\s+)?([\w.*\[\]]+)\s+`([^`]*)`")
TAG_RE = re.compile(r'(\w+):"([^"]*)"')


def parse_proto(path):
    pkg, messages, cur, depth = None, [], None, 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("//", 1)[0].strip()
            if not line:
                continue
            m = re.match(r"package\s+([\w.]+)\s*;", line)
            if m:
                pkg = m.group(1)
                continue
            m = re.match(r"message\s+(\w+)\s*\{", line)
            if m:
                if cur is not None:
                    sys.exit("nested message in %s" % path)
                cur = {"name": m.group(1), "fields": []}
                depth = 1
                if line.endswith("}"):
                    messages.append(cur)
                    cur = None
                continue
            if cur is None:
                continue
            if line.startswith("}"):
                messages.append(cur)
                cur = None
                continue
            m = FIELD_RE.match(line)
            if not m:
                sys.exit("unparsed line in %s: %s" % (path, line))
            label, typ, mk, mv, name, num = m.groups()
            fld = {"name": name, "num": int(num), "repeated": label == "repeated"}
            if mk:
                if mk != "string":
                    sys.exit("map key %s in %s" % (mk, path))
                fld["map"], fld["type"] = True, mv
            else:
                fld["map"], fld["type"] = False, typ
            cur["fields"].append(fld)
    return pkg, messages


def parse_go(pkgdir):
    """{struct: {proto number: (json name, omitempty, pointer, inline)}}, set of slice types"""
    structs, slices = {}, set()
    for fn in sorted(os.listdir(pkgdir)):
        if not fn.endswith(".go") or fn.endswith("_test.go") or fn.startswith("zz_") or \
                fn.startswith("generated"):
            continue
        cur = None
        with open(os.path.join(pkgdir, fn), encoding="utf-8") as f:
            for line in f:
                m = re.match(r"^type\s+(\w+)\s+struct\s*\{", line)
                if m:
                    cur = structs.setdefault(m.group(1), {})
                    continue
                m = re.match(r"^type\s+(\w+)\s+\[\]", line)
                if m:
                    slices.add(m.group(1))
                    continue
                if cur is None:
                    continue
                if line.startswith("}"):
                    cur = None
                    continue
                m = GO_FIELD_RE.match(line)
                if not m:
                    continue
                tags = dict(TAG_RE.findall(m.group(3)))
                if "protobuf" not in tags or "json" not in tags:
                    continue
                pb = tags["protobuf"].split(",")
                js = tags["json"].split(",")
                cur[int(pb[1])] = (js[0], "omitempty" in js[1:], m.group(2).startswith("*"),
                                   "inline" in js[1:] and js[0] == "")
    return structs, slices


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    allmsgs, kinds = [], []
    for gopkg, apiver in PACKAGES:
        d = os.path.join(src, gopkg)
        pkg, msgs = parse_proto(os.path.join(d, "generated.proto"))
        structs, slices = parse_go(d)
        for msg in msgs:
            msg["full"] = pkg + "." + msg["name"]
            msg["pkg"] = pkg
            msg["go"] = structs.get(msg["name"], {})
            msg["slice"] = msg["name"] in slices
            allmsgs.append(msg)
            if apiver:
                kinds.append((apiver, msg["name"], msg["full"]))
    index = {m["full"]: i for i, m in enumerate(allmsgs)}
    lines = ['/* Generated by gen-k8s-proto.py from generated.proto and Go types; do not edit. */',
             '#include "k8s_proto.h"', '', 'const k8s_proto_field_t k8s_proto_fields[] = {']
    first, nfields, mismatch = [], 0, 0
    for msg in allmsgs:
        first.append(nfields)
        for fld in sorted(msg["fields"], key=lambda x: x["num"]):
            typ, ref = fld["type"], -1
            if typ in SCALARS:
                ctype = SCALARS[typ]
            else:
                full = typ[1:] if typ.startswith(".") else msg["pkg"] + "." + typ
                if full not in index:
                    sys.exit("unresolved type %s in %s" % (typ, msg["full"]))
                ctype, ref = "K8S_PB_MESSAGE", index[full]
            jname, omit, ptr, inline = msg["go"].get(fld["num"], (fld["name"], True, False, False))
            if fld["num"] not in msg["go"] and msg["go"]:
                mismatch += 1
            flags = []
            if fld["repeated"]:
                flags.append("K8S_PB_F_REPEATED")
            if fld["map"]:
                flags.append("K8S_PB_F_MAP")
            if omit:
                flags.append("K8S_PB_F_OMITEMPTY")
            if ptr:
                flags.append("K8S_PB_F_POINTER")
            if inline:
                flags.append("K8S_PB_F_INLINE")
            lines.append('    {"%s", %d, %s, %s, %d},' % (
                jname, fld["num"], ctype, "|".join(flags) or "0", ref))
            nfields += 1
    lines += ['};', '', 'const k8s_proto_message_t k8s_proto_messages[] = {']
    for i, msg in enumerate(allmsgs):
        special = SPECIAL.get(msg["full"], "K8S_PB_SPECIAL_NONE")
        if msg["slice"] and len(msg["fields"]) == 1 and msg["fields"][0]["repeated"]:
            special = "K8S_PB_SPECIAL_ARRAY"
        lines.append('    {"%s", %s, %d, %d},' % (msg["full"], special, first[i], len(msg["fields"])))
    lines += ['};', 'const unsigned k8s_proto_message_count = %d;' % len(allmsgs), '',
              'const k8s_proto_kind_t k8s_proto_kinds[] = {']
    for apiver, kind, full in kinds:
        lines.append('    {"%s", "%s", %d},' % (apiver, kind, index[full]))
    lines += ['};', 'const unsigned k8s_proto_kind_count = %d;' % len(kinds), '']
    with open(os.path.join(out, "k8s_proto_table.c"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print("%d messages, %d fields, %d kinds, %d fields without Go tag" %
          (len(allmsgs), nfields, len(kinds), mismatch))


if __name__ == "__main__":
    main()
