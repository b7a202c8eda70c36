#!/usr/bin/python3
"""Generate kubeling's Kubernetes type schema tables from the python client's models.

Usage: gen-k8s-schema.py PKGDIR OUTDIR

PKGDIR is the unpacked `kubernetes` package of Debian's python3-kubernetes (the directory that
holds client/models and client/api). The files are parsed with the `ast` module, never
imported. Two C files are written into OUTDIR:

  k8s_schema_types.c  every model class (a "type") with its fields, sorted by class name, each
                      type's fields sorted by JSON name; the top-level kinds (group, version,
                      kind, resource) sorted by group/version/kind.
  k8s_schema_desc.c   the field descriptions, one per field in the same order, in a table of
                      its own so that a binary that never asks for them does not link them.

Where the data comes from:
  fields       `openapi_types` (attribute -> type string) and `attribute_map` (attribute ->
               JSON name) of each class in client/models/*.py;
  required     a setter that raises when the value is None under client_side_validation;
  description  the setter's docstring;
  kinds        the REST calls in client/api/*_api.py: a GET or POST on a resource path
               (/api/v1[/namespaces/{namespace}]/<resource>[/{name}] or the same under
               /apis/<group>/<version>) returns the resource's kind (or its List); the path
               gives group, version, resource name and whether the resource is namespaced.
               The kind is the class name without its version prefix (V1Pod -> Pod,
               CoreV1Event -> Event, V1beta1LeaseCandidate -> LeaseCandidate).
"""

import ast
import os
import re
import sys

SCALARS = {
    'str': 'K8S_T_STRING',
    'int': 'K8S_T_INT',
    'bool': 'K8S_T_BOOL',
    'float': 'K8S_T_NUMBER',
    'datetime': 'K8S_T_TIME',
    'date': 'K8S_T_TIME',
    # 'object' is what the generator makes of IntOrString, RawExtension, JSON and other
    # free-form values: anything goes.
    'object': 'K8S_T_ANY',
}

RESOURCE_PATH = re.compile(
    r'^/(?:api/(?P<core>v1)|apis/(?P<group>[a-z0-9.-]+)/(?P<version>v[0-9a-z]+))'
    r'(?P<ns>/namespaces/\{namespace\})?/(?P<resource>[a-z0-9]+)(?:/\{name\})?$')
# CoreV1Event, V1Pod, V1beta1Lease, V2HorizontalPodAutoscaler: an optional capitalised group
# word, the version, then the kind.
CLASS_NAME = re.compile(r'^(?:[A-Z][a-z]+)?V[0-9]+(?:(?:alpha|beta)[0-9]+)?(?P<kind>[A-Z]\w*)$')


def die(msg):
    sys.exit('gen-k8s-schema: ' + msg)


def literal_dict(node):
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def clean_doc(doc):
    """Keeps the text of a generated docstring: drops the summary line, `:param`/`:type` lines
    and the `# noqa` markers."""
    lines = []
    for line in doc.splitlines()[1:]:
        if line.startswith(':'):
            break
        lines.append(line.replace('# noqa: E501', '').rstrip())
    return '\n'.join(lines).strip()


def is_none_check(test, attr):
    """True for `self.local_vars_configuration.client_side_validation and ATTR is None`."""
    if not (isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And)):
        return False
    if len(test.values) != 2:
        return False
    flag, cmp = test.values
    if not (isinstance(flag, ast.Attribute) and flag.attr == 'client_side_validation'):
        return False
    return (isinstance(cmp, ast.Compare) and isinstance(cmp.left, ast.Name) and
            cmp.left.id == attr and len(cmp.ops) == 1 and isinstance(cmp.ops[0], ast.Is) and
            isinstance(cmp.comparators[0], ast.Constant) and cmp.comparators[0].value is None)


def setter_of(func):
    for dec in func.decorator_list:
        if isinstance(dec, ast.Attribute) and dec.attr == 'setter':
            return True
    return False


def parse_model(path):
    """Returns (class name, {attr: type}, {attr: json}, {attr: description}, {required attrs})
    or None when the file holds no model class."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), filename=path)
    for cls in tree.body:
        if not isinstance(cls, ast.ClassDef):
            continue
        types = jsons = None
        descs, required = {}, set()
        for stmt in cls.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and \
                    isinstance(stmt.targets[0], ast.Name):
                if stmt.targets[0].id == 'openapi_types':
                    types = literal_dict(stmt.value)
                elif stmt.targets[0].id == 'attribute_map':
                    jsons = literal_dict(stmt.value)
            elif isinstance(stmt, ast.FunctionDef) and setter_of(stmt):
                attr = stmt.name
                doc = ast.get_docstring(stmt)
                if doc:
                    descs[attr] = clean_doc(doc)
                for node in stmt.body:
                    if isinstance(node, ast.If) and is_none_check(node.test, attr) and \
                            any(isinstance(n, ast.Raise) for n in node.body):
                        required.add(attr)
        if types is not None and jsons is not None:
            return cls.name, types, jsons, descs, required
    return None


def parse_type(text, classes):
    """'list[V1Container]' -> (type, list, map, ref class or None)."""
    is_list = is_map = 0
    m = re.match(r'^dict\(str, (.+)\)$', text)
    if m:
        is_map, text = 1, m.group(1)
    m = re.match(r'^list\[(.+)\]$', text)
    if m:
        is_list, text = 1, m.group(1)
    if text in SCALARS:
        return SCALARS[text], is_list, is_map, None
    if text in classes:
        return 'K8S_T_OBJECT', is_list, is_map, text
    die('unsupported type %r' % text)
    return None


def parse_apis(api_dir, classes):
    """Returns {(group, version, kind): (class, resource, namespaced)}."""
    kinds = {}
    for name in sorted(os.listdir(api_dir)):
        if not name.endswith('_api.py'):
            continue
        path = os.path.join(api_dir, name)
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), filename=path)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and
                    node.func.attr == 'call_api' and len(node.args) >= 2):
                continue
            url, method = node.args[0], node.args[1]
            if not (isinstance(url, ast.Constant) and isinstance(method, ast.Constant)):
                continue
            if method.value not in ('GET', 'POST'):
                continue
            m = RESOURCE_PATH.match(url.value)
            if not m:
                continue
            rtype = None
            for kw in node.keywords:
                if kw.arg == 'response_type' and isinstance(kw.value, ast.Constant):
                    rtype = kw.value.value
            if rtype not in classes:
                continue
            km = CLASS_NAME.match(rtype)
            if not km:
                die('%s: cannot take the kind from class %s' % (name, rtype))
            kind = km.group('kind')
            group = '' if m.group('core') else m.group('group')
            version = m.group('core') or m.group('version')
            resource = m.group('resource')
            key = (group, version, kind)
            namespaced = bool(m.group('ns'))
            old = kinds.get(key)
            if old is not None and old[0] != rtype:
                die('%s/%s %s is both %s and %s' % (group, version, kind, old[0], rtype))
            if old is not None:
                namespaced = namespaced or old[2]
            kinds[key] = (rtype, resource, namespaced)
    return kinds


def c_string(text):
    if text is None:
        return 'NULL'
    out = ['"']
    for ch in text:
        o = ord(ch)
        if ch in '"\\':
            out.append('\\' + ch)
        elif ch == '\n':
            out.append('\\n')
        elif ch == '?':
            out.append('\\?')  # no trigraphs
        elif 0x20 <= o < 0x7f:
            out.append(ch)
        else:
            for b in ch.encode('utf-8'):
                out.append('\\%03o' % b)
    out.append('"')
    return ''.join(out)


def main():
    if len(sys.argv) != 3:
        die('usage: gen-k8s-schema.py PKGDIR OUTDIR')
    pkg, outdir = sys.argv[1], sys.argv[2]
    model_dir = os.path.join(pkg, 'client', 'models')
    api_dir = os.path.join(pkg, 'client', 'api')

    models = {}
    for name in sorted(os.listdir(model_dir)):
        if name.endswith('.py') and name != '__init__.py':
            parsed = parse_model(os.path.join(model_dir, name))
            if parsed:
                models[parsed[0]] = parsed[1:]
    if len(models) < 100:
        die('only %d models in %s' % (len(models), model_dir))
    names = sorted(models)
    index = {n: i for i, n in enumerate(names)}

    kinds = parse_apis(api_dir, models)
    with open(os.path.join(model_dir, 'v1_pod.py'), encoding='utf-8') as f:
        m = re.search(r'The version of the OpenAPI document: (\S+)', f.read())
    if not m:
        die('no OpenAPI document version in v1_pod.py')
    version_line = m.group(1)

    head = ('/* Generated by third_party/k8s-schema/gen-k8s-schema.py from Debian\'s '
            'python3-kubernetes\n * (OpenAPI document %s). Do not edit. */\n'
            '#include "k8s_schema.h"\n\n#include <stddef.h>\n\n' % version_line)
    fields_c, types_c, desc_c = [], [], []
    nfields = 0
    for n in names:
        types, jsons, descs, required = models[n]
        rows = []
        for attr, tstr in types.items():
            if attr not in jsons:
                die('%s.%s has no JSON name' % (n, attr))
            ctype, is_list, is_map, ref = parse_type(tstr, models)
            rows.append((jsons[attr], ctype, is_list, is_map, int(attr in required),
                         index[ref] if ref else -1, descs.get(attr)))
        rows.sort(key=lambda r: r[0].encode('utf-8'))
        for a, b in zip(rows, rows[1:]):
            if a[0] == b[0]:
                die('%s has JSON field %s twice' % (n, a[0]))
        types_c.append('    {%s, &fields[%d], %d},\n' % (c_string(n), nfields, len(rows)))
        for json, ctype, is_list, is_map, req, ref, desc in rows:
            fields_c.append('    {%s, %s, %d, %d, %d, %d},\n' %
                            (c_string(json), ctype, is_list, is_map, req, ref))
            desc_c.append('    %s,\n' % c_string(desc or None))
        nfields += len(rows)

    kinds_c = []
    for (group, version, kind) in sorted(kinds):
        cls, resource, namespaced = kinds[(group, version, kind)]
        if kind.endswith('List') and (group, version, kind[:-4]) in kinds:
            resource = None  # the List of a kind is no resource of its own
        kinds_c.append('    {%s, %s, %s, %s, %d, %d},\n' %
                       (c_string(group), c_string(version), c_string(kind), c_string(resource),
                        int(namespaced), index[cls]))

    types_out = [head,
                 'static const k8s_field_t fields[] = {\n', *fields_c, '};\n\n',
                 'const k8s_kind_t k8s_schema_types_[] = {\n', *types_c, '};\n',
                 'const unsigned k8s_schema_ntypes_ = %d;\n\n' % len(names),
                 'const k8s_gvk_t k8s_schema_gvks_[] = {\n', *kinds_c, '};\n',
                 'const unsigned k8s_schema_ngvks_ = %d;\n\n' % len(kinds),
                 'const k8s_field_t *const k8s_schema_fields_ = fields;\n',
                 'const char k8s_schema_api_version[] = %s;\n' % c_string(version_line)]
    desc_out = [head,
                'static const char *const descriptions[] = {\n', *desc_c, '};\n\n',
                'const char *k8s_schema_field_description(const k8s_field_t *f)\n{\n',
                '    if (f == NULL || f < k8s_schema_fields_ || f >= k8s_schema_fields_ + %d)\n'
                % nfields,
                '        return NULL;\n',
                '    return descriptions[f - k8s_schema_fields_];\n}\n']

    os.makedirs(outdir, exist_ok=True)
    for fname, parts in (('k8s_schema_types.c', types_out),
                         ('k8s_schema_desc.c', desc_out)):
        tmp = os.path.join(outdir, fname + '.tmp')
        with open(tmp, 'w', encoding='ascii') as f:
            f.write(''.join(parts))
        os.replace(tmp, os.path.join(outdir, fname))
    print('gen-k8s-schema: %d types, %d fields, %d kinds (%s)' %
          (len(names), nfields, len(kinds), version_line))


if __name__ == '__main__':
    main()
