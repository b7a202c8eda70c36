#!/usr/bin/env bash
# build.sh OUTDIR: builds test images from Debian's busybox-static, offline, in both
# import formats: OUTDIR/busybox-docker.tar (docker save layout, plain) and
# OUTDIR/busybox-oci.tar.gz (OCI image layout, gzip, a nested index with two platforms).
# Two layers: the second deletes a file (whiteout) and replaces a directory (opaque).
set -euo pipefail
out=$(readlink -f "$1")
busybox=${BUSYBOX:-/bin/busybox}
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
case "$arch" in armhf) arch=arm ;; esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
TAR=(tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1700000000 --format=pax
    --pax-option=delete=atime,delete=ctime)

# ---- layer 1: busybox with applet links, files the second layer hides --------------------------
l1=$work/l1
mkdir -p "$l1"/bin "$l1"/etc "$l1"/tmp "$l1"/data/old "$l1"/var/empty
cp "$busybox" "$l1"/bin/busybox
for a in sh echo cat sleep true false ls env printenv id; do ln -s busybox "$l1/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$l1"/etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' >"$l1"/etc/group
echo removed-by-layer2 >"$l1"/tmp/gone
echo old >"$l1"/data/old/file
echo kept >"$l1"/data/kept
chmod 1777 "$l1"/tmp
(cd "$l1" && "${TAR[@]}" -cf "$work/layer1.tar" .)

# ---- layer 2: a whiteout, an opaque directory, a new file ----------------------------------------
l2=$work/l2
mkdir -p "$l2"/tmp "$l2"/data/old "$l2"/etc
: >"$l2"/tmp/.wh.gone
: >"$l2"/data/old/.wh..wh..opq
echo new >"$l2"/data/old/newfile
echo kubeling-test >"$l2"/etc/hostname
chmod 1777 "$l2"/tmp
(cd "$l2" && "${TAR[@]}" -cf "$work/layer2.tar" .)

sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
d1=$(sha "$work/layer1.tar")
d2=$(sha "$work/layer2.tar")

cat >"$work/config.json" <<JSON
{"architecture":"$arch","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"],"WorkingDir":"/data","ExposedPorts":{"8080/tcp":{}},"User":"0:0"},"rootfs":{"type":"layers","diff_ids":["sha256:$d1","sha256:$d2"]},"history":[{"created_by":"kubeling rootfs/images/build.sh"}]}
JSON
cfg=$(sha "$work/config.json")

# ---- docker-archive ----------------------------------------------------------------------------
da=$work/docker
mkdir -p "$da/$d1" "$da/$d2"
cp "$work/layer1.tar" "$da/$d1/layer.tar"
cp "$work/layer2.tar" "$da/$d2/layer.tar"
cp "$work/config.json" "$da/$cfg.json"
printf '[{"Config":"%s.json","RepoTags":["busybox:latest","kubeling.test/busybox:docker"],"Layers":["%s/layer.tar","%s/layer.tar"]}]' \
    "$cfg" "$d1" "$d2" >"$da/manifest.json"
printf '{"busybox":{"latest":"%s"}}' "$d2" >"$da/repositories"
(cd "$da" && "${TAR[@]}" -cf "$out/busybox-docker.tar" .)

# ---- OCI layout: gzip layer 1, plain layer 2, nested index with a foreign platform --------------
oci=$work/oci
mkdir -p "$oci/blobs/sha256"
gzip -n -c "$work/layer1.tar" >"$work/layer1.tar.gz"
g1=$(sha "$work/layer1.tar.gz")
put() { cp "$1" "$oci/blobs/sha256/$(sha "$1")"; }
put "$work/layer1.tar.gz"
put "$work/layer2.tar"
put "$work/config.json"
cat >"$work/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$cfg","size":$(size "$work/config.json")},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:$g1","size":$(size "$work/layer1.tar.gz")},{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:$d2","size":$(size "$work/layer2.tar")}]}
JSON
put "$work/manifest.json"
other=arm64
[[ "$arch" == arm64 ]] && other=amd64
cat >"$work/index.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$(printf %064d 0)","size":1,"platform":{"architecture":"$other","os":"linux"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$(sha "$work/manifest.json")","size":$(size "$work/manifest.json"),"platform":{"architecture":"$arch","os":"linux"}}]}
JSON
put "$work/index.json"
cat >"$oci/index.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:$(sha "$work/index.json")","size":$(size "$work/index.json"),"annotations":{"io.containerd.image.name":"kubeling.test/busybox:oci","org.opencontainers.image.ref.name":"oci"}}]}
JSON
echo '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
(cd "$oci" && "${TAR[@]}" -cf - . | gzip -n >"$out/busybox-oci.tar.gz")
echo "config sha256:$cfg" >"$out/busybox.ids"

# ---- kltest: the tiny multi-call payload, one layer ---------------------------------------------
CC=${CC:-x86_64-linux-musl-gcc}
command -v "$CC" >/dev/null || exit 0
src=$(dirname "$(readlink -f "$0")")/../testprog/kltest.c
k=$work/kltest
mkdir -p "$k/root/bin" "$k/root/etc" "$k/root/tmp" "$k/oci/blobs/sha256"
"$CC" -static -Os -s -std=c11 -D_GNU_SOURCE -o "$k/root/kltest" "$src"
for a in true false echo cat sleep pause printenv exit hostname id write ls; do ln -s ../kltest "$k/root/bin/$a"; done
printf 'root:x:0:0:root:/:/kltest\n' >"$k/root/etc/passwd"
chmod 1777 "$k/root/tmp"
(cd "$k/root" && "${TAR[@]}" -cf "$k/layer.tar" .)
kd=$(sha "$k/layer.tar")
cat >"$k/config.json" <<JSON
{"architecture":"$arch","os":"linux","config":{"Entrypoint":["/kltest"],"Cmd":["pause"],"Env":["PATH=/bin"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:$kd"]}}
JSON
cp "$k/layer.tar" "$k/oci/blobs/sha256/$kd"
kc=$(sha "$k/config.json")
cp "$k/config.json" "$k/oci/blobs/sha256/$kc"
cat >"$k/manifest.json" <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$kc","size":$(size "$k/config.json")},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:$kd","size":$(size "$k/layer.tar")}]}
JSON
km=$(sha "$k/manifest.json")
cp "$k/manifest.json" "$k/oci/blobs/sha256/$km"
cat >"$k/oci/index.json" <<JSON
{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$km","size":$(size "$k/manifest.json"),"annotations":{"org.opencontainers.image.ref.name":"kubeling.test/kltest:latest"}}]}
JSON
echo '{"imageLayoutVersion":"1.0.0"}' >"$k/oci/oci-layout"
(cd "$k/oci" && "${TAR[@]}" -cf "$out/kltest.tar" .)
