# k8s-schema: the Kubernetes API type schemas (fields, types, required, descriptions) as C
# tables in libk8sschema.a. Not a C library upstream: Debian's python3-kubernetes (all-arch
# .deb of kubernetes-client/python, generated from the Kubernetes OpenAPI spec) ships one model
# class per API type; k8s-schema/gen-k8s-schema.py reads them with python's ast module (it
# never imports them) and writes the tables, which are compiled with the target's compiler
# like any other dependency. Client 35.0.0 = Kubernetes 1.35 (forky/sid).
NAME=k8s-schema
VERSION="35.0.0-2"
SOURCES="
pool/main/p/python-kubernetes/python3-kubernetes_35.0.0-2_all.deb 3f8c933acd1e653422d71af0d4c5c915e0fcef993576de782d66169bdac32a8b
"

build_k8s-schema() {
    local src="$1" bld="$2" prefix="$3" here="$HERE/k8s-schema"
    /usr/bin/python3 "$here/gen-k8s-schema.py" \
        "$src/usr/lib/python3/dist-packages/kubernetes" "$bld/gen" >"$bld/gen.log" ||
        die "gen-k8s-schema.py failed"
    compile_archive k8sschema "$bld" "$prefix" "-I$here" \
        "$bld/gen/k8s_schema_types.c" "$bld/gen/k8s_schema_desc.c" "$here/k8s_schema.c"
    cp "$here/k8s_schema.h" "$prefix/include/"
}
