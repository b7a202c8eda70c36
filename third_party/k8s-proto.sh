# k8s-proto: the protobuf wire layout of the Kubernetes API types kubeling serves, as C tables in
# libk8sproto.a, for decoding application/vnd.kubernetes.protobuf request bodies (kubectl 1.33's
# generators send them). Not a C library upstream: Debian's golang-k8s-api-dev and
# golang-k8s-apimachinery-dev (all-arch .debs of k8s.io/api and k8s.io/apimachinery 0.36.4 =
# Kubernetes 1.36) ship each package's generated.proto and Go types; k8s-proto/gen-k8s-proto.py
# reads both (message layout from the .proto, JSON names and flags from the struct tags) and
# writes the tables, compiled with the target's compiler like any other dependency.
NAME=k8s-proto
VERSION="0.36.4"
SOURCES="
pool/main/g/golang-k8s-api/golang-k8s-api-dev_0.36.4-1_all.deb 0b5f0e6bb3c55edf6a564496c5997b729e0b03c6597891a32dac9b6d71b9e109
pool/main/g/golang-k8s-apimachinery/golang-k8s-apimachinery-dev_0.36.4-3_all.deb 020045b2e32576be3350f382133cefaa6342f17ab8df24175667f6882b32925b
"

build_k8s-proto() {
    local src="$1" bld="$2" prefix="$3" here="$HERE/k8s-proto"
    /usr/bin/python3 "$here/gen-k8s-proto.py" "$src/usr/share/gocode/src" "$bld/gen" \
        >"$bld/gen.log" || die "gen-k8s-proto.py failed"
    compile_archive k8sproto "$bld" "$prefix" "-I$here" \
        "$bld/gen/k8s_proto_table.c" "$here/k8s_proto.c"
    cp "$here/k8s_proto.h" "$prefix/include/"
}
