#!/usr/bin/env bash
# test_images: `kubeling images import|list|rm` with test images built offline from
# busybox-static (rootfs/images/build.sh), and hostile tarballs.
. "$(dirname "$0")/lib.sh"
K=$KUBELING_BIN
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IMG="$E2E_TMP/img"
D="$E2E_TMP/data"
STORE="$D/agent/images-store"
bash "$ROOT/rootfs/images/build.sh" "$IMG" >/dev/null || fail "building test images"

images() { "$K" --data-dir "$D" images "$@"; }

import_docker_archive() {
    run_cmd "$E2E_TMP/o" images import "$IMG/busybox-docker.tar"
    expect_rc 0 "import docker-archive"
    expect_grep "$E2E_TMP/o" '^imported docker.io/library/busybox:latest$'
    expect_grep "$E2E_TMP/o" '^imported kubeling.test/busybox:docker$'
}

import_oci_layout_gzip() {
    run_cmd "$E2E_TMP/o" images import "$IMG/busybox-oci.tar.gz"
    expect_rc 0 "import OCI layout (.tar.gz, nested index with a foreign platform)"
    expect_grep "$E2E_TMP/o" '^imported kubeling.test/busybox:oci$'
}

list_shows_crictl_columns() {
    run_cmd "$E2E_TMP/l" images list
    expect_rc 0 "list"
    expect_grep "$E2E_TMP/l" '^IMAGE +TAG +IMAGE ID +SIZE$'
    local id
    id=$(sed -n 's/^config sha256:\(.\{13\}\).*/\1/p' "$IMG/busybox.ids")
    expect_grep "$E2E_TMP/l" "^docker.io/library/busybox +latest +$id +[0-9.]+MB$"
    expect_grep "$E2E_TMP/l" "^kubeling.test/busybox +oci +$id "
    expect_lines "$E2E_TMP/l" 4
    # both formats describe the same image: two layers, stored once
    [[ $(ls "$STORE/layers" | wc -l) -eq 2 ]] || fail "layers: $(ls "$STORE/layers")"
}

reimport_is_idempotent() {
    images list >"$E2E_TMP/before"
    local layers
    layers=$(ls "$STORE/layers")
    run_cmd "$E2E_TMP/o" images import "$IMG/busybox-docker.tar" "$IMG/busybox-oci.tar.gz"
    expect_rc 0 "re-import"
    images list >"$E2E_TMP/after"
    cmp -s "$E2E_TMP/before" "$E2E_TMP/after" || fail "list changed: $(diff "$E2E_TMP/before" "$E2E_TMP/after")"
    [[ "$(ls "$STORE/layers")" == "$layers" ]] || fail "layers changed"
    [[ -z "$(ls -A "$STORE/tmp")" ]] || fail "tmp not empty"
}

# The unpacked layers, stacked with overlayfs, run busybox (in a private mount namespace).
layers_run_under_overlayfs() {
    [[ $(id -u) -eq 0 ]] || { echo "# skipped: needs root"; return 0; }
    local lower
    lower=$(/usr/bin/python3 -c 'import json,sys; i=json.load(open(sys.argv[1]))["images"][0]; print(":".join(sys.argv[2]+"/"+l[7:] for l in reversed(i["layers"])))' \
        "$STORE/index.json" "$STORE/layers")
    mkdir -p "$E2E_TMP/ovl/u" "$E2E_TMP/ovl/w" "$E2E_TMP/ovl/m"
    unshare -m sh -c "mount -t overlay overlay -o lowerdir=$lower,upperdir=$E2E_TMP/ovl/u,workdir=$E2E_TMP/ovl/w $E2E_TMP/ovl/m &&
        chroot $E2E_TMP/ovl/m /bin/sh -c 'echo ran; ls /tmp; ls /data/old; cat /etc/hostname'" >"$E2E_TMP/r" 2>&1 ||
        { cat "$E2E_TMP/r"; fail "overlay run"; }
    expect_grep "$E2E_TMP/r" '^ran$'
    expect_grep "$E2E_TMP/r" '^newfile$'         # opaque dir: only the upper file
    grep -q '^gone$\|^file$' "$E2E_TMP/r" && fail "whiteout or opaque dir leaked lower files"
    expect_grep "$E2E_TMP/r" '^kubeling-test$'
    rm -rf "$E2E_TMP/ovl"
}

# The static multi-call payload (rootfs/testprog/kltest.c) as a one-layer image.
kltest_image_runs() {
    [[ -f "$IMG/kltest.tar" ]] || { echo "# skipped: no musl compiler"; return 0; }
    run_cmd "$E2E_TMP/o" images import "$IMG/kltest.tar"
    expect_rc 0 "import kltest"
    expect_grep "$E2E_TMP/o" '^imported kubeling.test/kltest:latest$'
    [[ $(id -u) -eq 0 ]] || return 0
    local layer
    layer=$(/usr/bin/python3 -c 'import json,sys; print([i for i in json.load(open(sys.argv[1]))["images"] if "kubeling.test/kltest:latest" in i["names"]][0]["layers"][0][7:])' "$STORE/index.json")
    chroot "$STORE/layers/$layer" /kltest echo payload-ok >"$E2E_TMP/r" 2>&1 || fail "chroot: $(cat "$E2E_TMP/r")"
    expect_grep "$E2E_TMP/r" '^payload-ok$'
    chroot "$STORE/layers/$layer" /bin/exit 7 && fail "exit applet"
    [[ $? -eq 7 ]] || fail "exit code"
    run_cmd "$E2E_TMP/o" images rm kubeling.test/kltest
    expect_rc 0 "rm kltest"
}

rm_removes_reference_then_collects() {
    run_cmd "$E2E_TMP/o" images rm busybox
    expect_rc 0 "rm busybox"
    images list >"$E2E_TMP/l"
    grep -q 'docker.io/library/busybox' "$E2E_TMP/l" && fail "busybox still listed"
    [[ $(ls "$STORE/layers" | wc -l) -eq 2 ]] || fail "layers removed while still referenced"
    run_cmd "$E2E_TMP/o" images rm kubeling.test/busybox:docker kubeling.test/busybox:oci
    expect_rc 0 "rm the other names"
    [[ -z "$(ls -A "$STORE/layers")" ]] || fail "layers left: $(ls "$STORE/layers")"
    [[ -z "$(ls -A "$STORE/blobs/sha256")" ]] || fail "blobs left"
    expect_lines <(images list) 1
    run_cmd "$E2E_TMP/o" images rm busybox
    expect_rc 1 "rm of a missing image"
    expect_grep "$E2E_TMP/o" 'image "busybox" not found'
}

# A docker-archive whose layer tries every escape; the import fails and nothing is written
# outside the store (a sentinel dir beside it stays empty), nor kept inside it.
malicious_tarball_is_rejected() {
    local out="$E2E_TMP/outside"
    mkdir -p "$out"
    local n
    for n in dotdot symlink hardlink; do
        /usr/bin/python3 - "$E2E_TMP/evil-$n.tar" "$out" "$n" <<'PY' || fail "python"
import hashlib, io, json, sys, tarfile
path, outside, kind = sys.argv[1:4]
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as t:
    def add(name, data=b"pwned", **kw):
        i = tarfile.TarInfo(name); i.size = len(data)
        for k, v in kw.items(): setattr(i, k, v)
        t.addfile(i, io.BytesIO(data) if i.type == tarfile.REGTYPE else None)
    add("ok", b"fine")
    if kind == "dotdot":
        add("../../../../../../" + outside.lstrip("/") + "/dotdot")
    elif kind == "symlink":
        add("evil", type=tarfile.SYMTYPE, linkname=outside); add("evil/through-symlink")
    else:
        add("lnk", type=tarfile.SYMTYPE, linkname=outside)
        add("hard", type=tarfile.LNKTYPE, linkname="lnk/x", size=0)
layer = layer.getvalue()
diff = "sha256:" + hashlib.sha256(layer).hexdigest()
cfg = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
cid = hashlib.sha256(cfg).hexdigest()
man = json.dumps([{"Config": cid + ".json", "RepoTags": ["evil:" + kind], "Layers": ["l/layer.tar"]}]).encode()
with tarfile.open(path, "w") as t:
    for name, data in ((cid + ".json", cfg), ("l/layer.tar", layer), ("manifest.json", man)):
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
PY
        touch "$out/x"
        run_cmd "$E2E_TMP/o" images import "$E2E_TMP/evil-$n.tar"
        expect_rc 1 "import of a hostile layer ($n)"
        expect_grep "$E2E_TMP/o" 'kubeling images import: .*layer sha256:'
        [[ "$(ls -A "$out")" == x ]] || fail "$n wrote outside: $(ls -A "$out")"
        rm -f "$out/x"
        images list | grep -q evil && fail "$n: hostile image listed"
        [[ -z "$(ls -A "$STORE/tmp")" ]] || fail "$n: work dir left"
        [[ -z "$(ls -A "$STORE/layers")" ]] || fail "$n: partial layer left"
    done
    grep -h 'layer' "$E2E_TMP/o" | sed 's/^/# /'
}

other_inputs_fail_clearly() {
    printf '\x28\xb5\x2f\xfd junk' >"$E2E_TMP/z.tar.zst"
    run_cmd "$E2E_TMP/o" images import "$E2E_TMP/z.tar.zst"
    expect_rc 1 "zstd"
    expect_grep "$E2E_TMP/o" 'zstd compression is not supported'
    head -c 700 "$IMG/busybox-docker.tar" >"$E2E_TMP/trunc.tar"
    run_cmd "$E2E_TMP/o" images import "$E2E_TMP/trunc.tar"
    expect_rc 1 "truncated"
    expect_grep "$E2E_TMP/o" 'truncated archive'
    run_cmd "$E2E_TMP/o" images import "$E2E_TMP/nonexistent.tar"
    expect_rc 1 "missing file"
    run_cmd "$E2E_TMP/o" images frobnicate
    expect_rc 2 "unknown sub-command"
}

# Two imports at once (the CLI and a kubelet, say) serialise on the store lock.
concurrent_imports_share_the_store() {
    local d2="$E2E_TMP/data2"
    "$K" --data-dir "$d2" images import "$IMG/busybox-docker.tar" >"$E2E_TMP/c1" 2>&1 &
    local p1=$!
    "$K" --data-dir "$d2" images import "$IMG/busybox-oci.tar.gz" >"$E2E_TMP/c2" 2>&1 &
    local p2=$!
    wait $p1 || fail "first import: $(cat "$E2E_TMP/c1")"
    wait $p2 || fail "second import: $(cat "$E2E_TMP/c2")"
    "$K" --data-dir "$d2" images list >"$E2E_TMP/l"
    expect_lines "$E2E_TMP/l" 4
    [[ $(ls "$d2/agent/images-store/layers" | wc -l) -eq 2 ]] || fail "layers"
    [[ -z "$(ls -A "$d2/agent/images-store/tmp")" ]] || fail "tmp not empty"
}

# make_big: a docker-archive of one 48 MiB layer (big:1) in $E2E_TMP/big.tar.
make_big() {
    [[ -f "$E2E_TMP/big.tar" ]] && return 0
    local big="$E2E_TMP/big"
    mkdir -p "$big/l"
    head -c $((48 << 20)) /dev/urandom >"$big/l/blob"
    tar -C "$big/l" -cf "$big/layer.tar" blob
    local diff cfg
    diff=$(sha256sum "$big/layer.tar" | cut -d' ' -f1)
    printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diff" >"$big/c.json"
    cfg=$(sha256sum "$big/c.json" | cut -d' ' -f1)
    mv "$big/c.json" "$big/$cfg.json"
    printf '[{"Config":"%s.json","RepoTags":["big:1"],"Layers":["layer.tar"]}]' "$cfg" >"$big/manifest.json"
    tar -C "$big" -cf "$E2E_TMP/big.tar" manifest.json "$cfg.json" layer.tar
    rm -rf "$big"
}

large_import_prints_progress() {
    make_big
    "$K" --data-dir "$D" images import "$E2E_TMP/big.tar" >"$E2E_TMP/o" 2>"$E2E_TMP/e" || fail "big import: $(cat "$E2E_TMP/e")"
    expect_grep "$E2E_TMP/e" '^importing .*big.tar: [0-9]+% \([0-9]+ of 48 MiB\)$'
    expect_grep "$E2E_TMP/e" ': 100% '
    images rm big:1 >/dev/null
}

# kill -9 in the middle of unpacking a layer: the image is not visible, no partial layer is in
# layers/, and the next import sweeps the work dir and succeeds.
kill9_mid_import_leaves_no_partial_image() {
    make_big
    "$K" --data-dir "$D" images import "$E2E_TMP/big.tar" >/dev/null 2>"$E2E_TMP/e" &
    local pid=$! i
    for i in $(seq 400); do
        grep -q ': [1-9][0-9]% ' "$E2E_TMP/e" 2>/dev/null && break
        sleep 0.02
    done
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    grep -q ': 100% ' "$E2E_TMP/e" && { echo "# import finished before the kill; nothing to check"; return 0; }
    images list | grep -q '^docker.io/library/big' && fail "partial image listed"
    [[ -z "$(ls -A "$STORE/layers")" ]] || fail "a layer became visible: $(ls "$STORE/layers")"
    echo "# left in tmp/ by the kill: $(ls "$STORE/tmp" | tr '\n' ' ')"
    run_cmd "$E2E_TMP/o" images import "$E2E_TMP/big.tar"
    expect_rc 0 "import after the kill"
    [[ -z "$(ls -A "$STORE/tmp")" ]] || fail "tmp not swept"
    images list | grep -q '^docker.io/library/big ' || fail "big not listed after re-import"
    images rm big:1 >/dev/null
}

t import_docker_archive import_docker_archive
t import_oci_layout_gzip import_oci_layout_gzip
t list_shows_crictl_columns list_shows_crictl_columns
t reimport_is_idempotent reimport_is_idempotent
t layers_run_under_overlayfs layers_run_under_overlayfs
t kltest_image_runs kltest_image_runs
t rm_removes_reference_then_collects rm_removes_reference_then_collects
t malicious_tarball_is_rejected malicious_tarball_is_rejected
t other_inputs_fail_clearly other_inputs_fail_clearly
t concurrent_imports_share_the_store concurrent_imports_share_the_store
t large_import_prints_progress large_import_prints_progress
t kill9_mid_import_leaves_no_partial_image kill9_mid_import_leaves_no_partial_image
