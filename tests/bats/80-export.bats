#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# export / import / redefine / prune / create --no-metadata on the host:
# a stopped domain known from its records, real qemu-img on small qcow2
# images (the real-Xen proof is tests/e2e/70-export.bats).
load helpers
load images

@test "export --full writes a bundle whose manifest lists every part with its SHA-256" {
    mkchain3
    run -0 xs export g1 s2 "$BATS_TEST_TMPDIR/b2"
    assert_output --regexp "^Exported snapshot 's2' of domain 'g1' \(full\) to .*/b2: [0-9]+ bytes\.$"
    run -0 stat -c %a "$BATS_TEST_TMPDIR/b2" "$BATS_TEST_TMPDIR/b2/disk-xvda.qcow2" "$BATS_TEST_TMPDIR/b2/manifest.json"
    assert_output "700
600
600"
    cd "$BATS_TEST_TMPDIR/b2"
    run -0 json_get '(d["format"], d["version"], d["kind"], d["snapshot"], d["base"], d["chain"], d["domain"]["uuid"], sorted(f["path"] for f in d["files"]))' < manifest.json
    assert_output "('xl-snapshot-bundle', 1, 'full', 's2', None, ['base', 's1', 's2'], '$UUID', ['disk-xvda.qcow2', 'record.json'])"
    python3 - <<'PY'
import json, hashlib, os
m = json.load(open("manifest.json"))
for f in m["files"]:
    data = open(f["path"], "rb").read()
    assert hashlib.sha256(data).hexdigest() == f["sha256"], f["path"]
    assert len(data) == f["size"], f["path"]
PY
    # the disk part is the disk as it was at s2, standalone
    run -0 qemu-img info --output=json disk-xvda.qcow2
    refute_output --partial backing-filename
    [ "$(sum disk-xvda.qcow2)" = "$(snapsum "$IMG" s2)" ]
}

@test "export --delta holds only what changed since the base, and imports on top of it" {
    mkchain3
    run -0 xs export g1 s1 "$BATS_TEST_TMPDIR/b1"
    run -0 xs export --delta --base s1 g1 s3 "$BATS_TEST_TMPDIR/b3"
    assert_output --partial "(delta on 's1')"
    full=$(stat -c %s "$BATS_TEST_TMPDIR/b1/disk-xvda.qcow2")
    delta=$(stat -c %s "$BATS_TEST_TMPDIR/b3/disk-xvda.qcow2")
    # s1 -> s3 changed 2 MiB (at 2M and 4M); qcow2 metadata ~ 0.5 MiB
    echo "# delta part $delta bytes for 2097152 changed" >&3
    [ "$delta" -le $(( 2097152 * 105 / 100 + 524288 )) ]
    s1=$(snapsum "$IMG" s1) s3=$(snapsum "$IMG" s3)
    # import on a new host: empty state, disks elsewhere
    export XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/state2
    mkdir "$BATS_TEST_TMPDIR/disks2"
    run -1 xs import --disk-dir "$BATS_TEST_TMPDIR/disks2" "$BATS_TEST_TMPDIR/b3"
    assert_output "xl-snapshot: cannot import '$BATS_TEST_TMPDIR/b3': this is a delta bundle on snapshot 's1', which domain g1 does not have: import the bundle of 's1' first"
    run -0 ls -A "$BATS_TEST_TMPDIR/disks2"
    assert_output ""
    run -0 xs import --disk-dir "$BATS_TEST_TMPDIR/disks2" "$BATS_TEST_TMPDIR/b1"
    assert_line "Imported snapshot 's1' of domain 'g1' ($UUID)."
    run -0 xs import --disk-dir "$BATS_TEST_TMPDIR/disks2" "$BATS_TEST_TMPDIR/b3"
    assert_line "Imported snapshot 's3' of domain 'g1' ($UUID), child of 's1'."
    run -0 xs info --json g1 s3
    run -0 json_get '(d["state"], d["parent"], [(x["snapshot"], x["backing"]) for x in d["disks"]])' <<< "$output"
    assert_output "('ready', 's1', [('external', '$BATS_TEST_TMPDIR/disks2/g1.s3.qcow2')])"
    [ "$(sum "$BATS_TEST_TMPDIR/disks2/g1.s1.qcow2")" = "$s1" ]
    [ "$(sum "$BATS_TEST_TMPDIR/disks2/g1.s3.qcow2")" = "$s3" ]
    run -0 qemu-img info "$BATS_TEST_TMPDIR/disks2/g1.s3.qcow2"
    assert_output --partial "backing file: $BATS_TEST_TMPDIR/disks2/g1.s1.qcow2"
}

@test "export - | import - carries the bundle through a pipe" {
    mkchain3
    s2=$(snapsum "$IMG" s2)
    mkdir "$BATS_TEST_TMPDIR/d"
    run -0 bash -c "'$XS' export g1 s2 - | XL_SNAPSHOT_DIR='$BATS_TEST_TMPDIR/st2' '$XS' import --disk-dir '$BATS_TEST_TMPDIR/d' --as-domain copy1 -"
    assert_line --regexp "^Imported snapshot 's2' of domain 'copy1' \([0-9a-f-]{36}\)\.$"
    [ "$(sum "$BATS_TEST_TMPDIR/d/g1.s2.qcow2")" = "$s2" ]
    # the new domain got its own UUID, in the record and its config
    XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/st2 run -0 xs info --json copy1 s2
    run -0 json_get 'd["domain"]["uuid"] != "'$UUID'" and d["config"]["c_info"]["uuid"] == d["domain"]["uuid"] and d["config"]["c_info"]["name"] == "copy1"' <<< "$output"
    assert_output True
    # no staging left behind
    run -0 find "$BATS_TEST_TMPDIR/st2" -name '.import*'
    assert_output ""
    run -0 find "$STATE" -name '.export*'
    assert_output ""
}

@test "import - takes a bundle directory packed by plain tar, './' names and all" {
    mkchain3
    s2=$(snapsum "$IMG" s2)
    run -0 xs export g1 s2 "$BATS_TEST_TMPDIR/b"
    # what an admin types: GNU tar's own format, then POSIX ustar; both
    # start with the directory "./" and name every member "./NAME"
    local n=0
    for fmt in gnu ustar; do
        n=$((n + 1))
        mkdir "$BATS_TEST_TMPDIR/d$n"
        run -0 bash -c "tar -H $fmt -cf - -C '$BATS_TEST_TMPDIR/b' . | XL_SNAPSHOT_DIR='$BATS_TEST_TMPDIR/st$n' '$XS' import --disk-dir '$BATS_TEST_TMPDIR/d$n' --as-domain copy$n -"
        assert_line --regexp "^Imported snapshot 's2' of domain 'copy$n' \([0-9a-f-]{36}\)\.$"
        [ "$(sum "$BATS_TEST_TMPDIR/d$n/g1.s2.qcow2")" = "$s2" ]
    done
    # any other directory is still refused, and nothing is left behind
    mkdir "$BATS_TEST_TMPDIR/b/sub" "$BATS_TEST_TMPDIR/d3"
    run -1 bash -c "tar -cf - -C '$BATS_TEST_TMPDIR/b' . | XL_SNAPSHOT_DIR='$BATS_TEST_TMPDIR/st3' '$XS' import --disk-dir '$BATS_TEST_TMPDIR/d3' -"
    assert_output --partial "something other than plain files"
    rmdir "$BATS_TEST_TMPDIR/b/sub"
    mkdir -p "$BATS_TEST_TMPDIR/deep/x"
    cp "$BATS_TEST_TMPDIR/b/"* "$BATS_TEST_TMPDIR/deep/x/"
    run -1 bash -c "tar -cf - -C '$BATS_TEST_TMPDIR/deep' x/record.json x/manifest.json | XL_SNAPSHOT_DIR='$BATS_TEST_TMPDIR/st3' '$XS' import --disk-dir '$BATS_TEST_TMPDIR/d3' -"
    assert_output --partial "not allowed"
    run -0 find "$BATS_TEST_TMPDIR/st3" "$BATS_TEST_TMPDIR/d3" -mindepth 1 -not -type d
    assert_output ""
}

@test "a bundle with one flipped byte is refused and nothing is written" {
    mkchain3
    run -0 xs export g1 s2 "$BATS_TEST_TMPDIR/b"
    python3 - "$BATS_TEST_TMPDIR/b/disk-xvda.qcow2" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x01
open(p, "wb").write(b)
PY
    export XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/st2
    mkdir "$BATS_TEST_TMPDIR/d"
    run -1 xs import --disk-dir "$BATS_TEST_TMPDIR/d" "$BATS_TEST_TMPDIR/b"
    assert_output "xl-snapshot: cannot import '$BATS_TEST_TMPDIR/b': the bundle was refused, nothing was imported: bundle member disk-xvda.qcow2 does not match its checksum in the manifest (corrupted or changed)"
    run -0 ls -A "$BATS_TEST_TMPDIR/d"
    assert_output ""
    [ ! -e "$BATS_TEST_TMPDIR/st2" ] || [ -z "$(find "$BATS_TEST_TMPDIR/st2" -name record.json)" ]
    # the same through a stream: staging removed, nothing recorded
    run -1 bash -c "tar -C '$BATS_TEST_TMPDIR/b' -H ustar -cf - record.json disk-xvda.qcow2 manifest.json | '$XS' import --disk-dir '$BATS_TEST_TMPDIR/d' -"
    assert_output --partial "does not match its checksum"
    run -0 find "$BATS_TEST_TMPDIR/st2" "$BATS_TEST_TMPDIR/d" -mindepth 1
    assert_output ""
}

@test "import refuses a truncated stream, a bundle without manifest, and an existing snapshot" {
    mkchain3
    run -0 bash -c "'$XS' export g1 s1 - > '$BATS_TEST_TMPDIR/s1.tar'"
    head -c 100000 "$BATS_TEST_TMPDIR/s1.tar" > "$BATS_TEST_TMPDIR/cut.tar"
    run -1 xs import --disk-dir "$BATS_TEST_TMPDIR" - < "$BATS_TEST_TMPDIR/cut.tar"
    assert_output --partial "truncated bundle"
    mkdir "$BATS_TEST_TMPDIR/empty"
    run -1 xs import "$BATS_TEST_TMPDIR/empty"
    assert_output --partial "has no manifest.json: not a bundle, or an incomplete one"
    # same host, same domain: s1 is there already
    run -1 xs import --disk-dir "$BATS_TEST_TMPDIR" - < "$BATS_TEST_TMPDIR/s1.tar"
    assert_output --partial "domain g1 already has a snapshot 's1'"
    run -2 xs export --delta g1 s2 "$BATS_TEST_TMPDIR/x"
    run -2 xs export --full --base s1 g1 s2 "$BATS_TEST_TMPDIR/x"
    run -1 xs export g1 nosuch "$BATS_TEST_TMPDIR/x"
    assert_output "xl-snapshot: cannot export 'nosuch': no snapshot 'nosuch'"
    [ ! -e "$BATS_TEST_TMPDIR/x" ]
}

@test "create --no-metadata keeps the disk snapshot but no record; redefine brings it back" {
    setup_images
    fill "$IMG" 0 0x11
    run -0 xs create --no-metadata --disk-only -n quiet g1
    assert_output "Snapshot 'quiet' of domain 'g1' taken (internal, disks only); no record kept:
  xvda: internal snapshot 'quiet' in $IMG"
    run -0 qemu-img snapshot -l "$IMG"
    assert_output --partial " quiet "
    run -1 xs info g1 quiet
    [ ! -e "$STATE/$UUID/quiet" ]
    cat > "$BATS_TEST_TMPDIR/quiet.json" <<JSON
{"version": 1, "name": "quiet", "creationtime": 1764001000, "state": "ready",
 "parent": "base", "domain": {"name": "g1", "uuid": "$UUID"},
 "disks": [{"vdev": "xvda", "format": "qcow2", "image": "$IMG",
            "snapshot": "internal", "internal_name": "quiet"}]}
JSON
    run -0 xs redefine --current g1 "$BATS_TEST_TMPDIR/quiet.json"
    assert_output "Snapshot 'quiet' of domain 'g1' redefined (internal, current)."
    run -0 xs current g1
    assert_output quiet
    fill "$IMG" 0 0x99
    run -0 xs revert g1 quiet
    run -0 qemu-io -f qcow2 -c "read -P 0x11 0 1M" "$IMG"
    refute_output --partial "verification failed"
}

@test "redefine validates that the snapshot data exists" {
    setup_images
    cat > "$BATS_TEST_TMPDIR/r.json" <<JSON
{"version": 1, "name": "ghost", "creationtime": 1764001000, "state": "ready",
 "domain": {"name": "g1", "uuid": "$UUID"},
 "disks": [{"vdev": "xvda", "format": "qcow2", "image": "$IMG",
            "snapshot": "internal", "internal_name": "ghost"}]}
JSON
    run -1 xs redefine g1 "$BATS_TEST_TMPDIR/r.json"
    assert_output "xl-snapshot: cannot redefine from '$BATS_TEST_TMPDIR/r.json': disk xvda: image $IMG has no internal snapshot 'ghost'"
    sed -i "s|\"image\": \"$IMG\"|\"image\": \"/nonexistent.qcow2\"|" "$BATS_TEST_TMPDIR/r.json"
    run -1 xs redefine g1 "$BATS_TEST_TMPDIR/r.json"
    assert_output "xl-snapshot: cannot redefine from '$BATS_TEST_TMPDIR/r.json': disk xvda: image /nonexistent.qcow2 (disk xvda) is missing"
    sed -i 's|"name": "ghost"|"name": "../evil"|' "$BATS_TEST_TMPDIR/r.json"
    run -1 xs redefine g1 "$BATS_TEST_TMPDIR/r.json"
    run -0 xs list --names g1
    assert_output base
}

@test "prune keeps exactly the ones asked for, and the kept ones still revert" {
    setup_images
    for i in 1 2 3 4 5; do
        fill "$IMG" 0 "0x$i$i"
        xs create -n "n$i" g1
    done
    fill "$IMG" 0 0x99
    run -0 xs prune -N --keep-last 2 g1
    assert_output "would delete n3
would delete n2
would delete n1
would delete base"
    run -0 xs list --names g1
    assert_output "base
n1
n2
n3
n4
n5"
    run -0 xs prune --keep-last 2 g1
    assert_output "deleted n3
deleted n2
deleted n1
deleted base"
    run -0 xs list --names g1
    assert_output "n4
n5"
    run -0 qemu-img snapshot -l "$IMG"
    refute_output --partial " n3 "
    for n in n4 n5; do
        pat=0x${n#n}${n#n}
        run -0 xs revert g1 "$n"
        run -0 qemu-io -f qcow2 -c "read -P $pat 0 1M" "$IMG"
        refute_output --partial "verification failed"
    done
    run -2 xs prune g1
    run -0 xs prune --keep-last 5 g1
    assert_output "nothing to prune: 2 snapshots kept"
}

@test "prune --match counts and deletes only the snapshots whose names match" {
    setup_images
    xs create -n nightly-20261201 g1
    xs create -n before-upgrade g1
    for d in 02 03 04; do xs create -n "nightly-202612$d" g1; done
    xs create -n nightly-special g1
    run -0 xs prune -N --keep-last 2 --match 'nightly-[0-9]*' g1
    assert_output "would delete nightly-20261202
would delete nightly-20261201"
    # options after the domain, as a script writes them; -v names the rest
    run -0 bash -c "'$XS' -v prune g1 --keep-last 2 --match 'nightly-[0-9]*' | sort"
    assert_output "deleted nightly-20261201
deleted nightly-20261202
keep base (does not match)
keep before-upgrade (does not match)
keep nightly-20261203
keep nightly-20261204
keep nightly-special (does not match)"
    run -0 xs list --names g1
    assert_output "base
before-upgrade
nightly-20261203
nightly-20261204
nightly-special"
    run -0 qemu-img snapshot -l "$IMG"
    refute_output --partial " nightly-20261201 "
    assert_output --partial " before-upgrade "
    run -0 xs prune --keep-last 2 --match 'nightly-[0-9]*' g1
    assert_output "nothing to prune: 2 matching snapshots kept"
    # --match again: any of the patterns; nothing matching, nothing done
    run -0 xs prune --keep-last 1 --match base --match 'before-*' g1
    assert_output "deleted base"
    run -0 xs prune --keep-last 1 --match 'weekly-*' g1
    assert_output "nothing to prune: 0 matching snapshots kept"
    run -0 xs list --names g1
    assert_output "before-upgrade
nightly-20261203
nightly-20261204
nightly-special"
}

@test "prune --keep-daily keeps the newest snapshot of each day" {
    for d in 0 1 2; do
        for h in 1 2; do
            mkrecord "d$d-h$h" - $(( 1764000000 + d * 86400 + h * 3600 )) false
        done
    done
    run -0 xs prune -N --keep-daily 2 g1
    assert_output "would delete d2-h1
would delete d1-h1
would delete d0-h2
would delete d0-h1"
}

@test "export --compress zstd stores memory and disks compressed; import restores them exactly" {
    mkchain3
    # a memory image to carry (export copies it as it is)
    head -c 3000000 /dev/zero > "$BATS_TEST_TMPDIR/mem.save"
    python3 - "$STATE/$UUID/s2/record.json" "$BATS_TEST_TMPDIR/mem.save" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); r["memory"] = sys.argv[2]
json.dump(r, open(sys.argv[1], "w"))
PY
    s2=$(snapsum "$IMG" s2)
    run -0 xs export --compress zstd g1 s2 "$BATS_TEST_TMPDIR/z"
    assert_output --partial "(full, zstd)"
    run -0 ls "$BATS_TEST_TMPDIR/z"
    assert_output "disk-xvda.qcow2.zst
manifest.json
memory.save.zst
record.json"
    run -0 json_get '[(f["path"], f.get("encoding")) for f in d["files"]]' < "$BATS_TEST_TMPDIR/z/manifest.json"
    assert_output "[('record.json', None), ('memory.save.zst', 'zstd'), ('disk-xvda.qcow2.zst', 'zstd')]"
    [ "$(stat -c %s "$BATS_TEST_TMPDIR/z/memory.save.zst")" -lt 100000 ]
    mkdir -p "$BATS_TEST_TMPDIR/d2"
    run -0 bash -c "'$XS' export --compress zstd g1 s2 - | XL_SNAPSHOT_DIR='$BATS_TEST_TMPDIR/st2' '$XS' import --disk-dir '$BATS_TEST_TMPDIR/d2' -"
    mkdir -p "$BATS_TEST_TMPDIR/d3"
    XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/st3 run -0 xs import --disk-dir "$BATS_TEST_TMPDIR/d3" "$BATS_TEST_TMPDIR/z"
    for d in d2 d3; do
        [ "$(sum "$BATS_TEST_TMPDIR/$d/g1.s2.qcow2")" = "$s2" ]
    done
    cmp "$BATS_TEST_TMPDIR/mem.save" "$BATS_TEST_TMPDIR/st3/$UUID/s2/memory.save"
    run -0 stat -c %a "$BATS_TEST_TMPDIR/st3/$UUID/s2/memory.save"
    assert_output 600
    run -2 xs export --compress gzip g1 s2 "$BATS_TEST_TMPDIR/y"
    # the SHA-256 export took as zstd wrote is the stored bytes': one
    # byte changed in the compressed disk, and the bundle is refused
    python3 - "$BATS_TEST_TMPDIR/z/disk-xvda.qcow2.zst" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(100); b = f.read(1); f.seek(100); f.write(bytes([b[0] ^ 1]))
PY
    mkdir -p "$BATS_TEST_TMPDIR/d4"
    XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/st4 run -1 xs import --disk-dir "$BATS_TEST_TMPDIR/d4" "$BATS_TEST_TMPDIR/z"
    assert_output --partial "bundle member disk-xvda.qcow2.zst does not match its checksum in the manifest"
}

@test "import from a directory copies the bundle's disk (never a link to it): a later change to the bundle does not reach the imported image" {
    mkchain3
    run -0 xs export g1 s2 "$BATS_TEST_TMPDIR/b"
    mkdir "$BATS_TEST_TMPDIR/d"
    # the disk dir and the state dir on the bundle's file system: a link
    # would be possible, and must not be made
    XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/st2 run -0 xs import --disk-dir "$BATS_TEST_TMPDIR/d" "$BATS_TEST_TMPDIR/b"
    run -0 stat -c %h "$BATS_TEST_TMPDIR/b/disk-xvda.qcow2"
    assert_output 1
    before=$(md5sum < "$BATS_TEST_TMPDIR/d/g1.s2.qcow2")
    printf 'X' | dd of="$BATS_TEST_TMPDIR/b/disk-xvda.qcow2" bs=1 seek=70000 conv=notrunc status=none
    [ "$(md5sum < "$BATS_TEST_TMPDIR/d/g1.s2.qcow2")" = "$before" ]
}

@test "export and create --help give the zstd level and its threads" {
    run -0 xs export --help
    assert_output --partial "level 3, threads on every CPU"
    run -0 xs create --help
    assert_output --partial "compress the memory image (zstd level 1,"
}

@test "import killed at every step: check --repair leaves a clean state and the import can finish" {
    mkchain3
    run -0 xs export g1 s1 "$BATS_TEST_TMPDIR/b1"
    run -0 xs export --delta --base s1 g1 s3 "$BATS_TEST_TMPDIR/b3"
    s3=$(snapsum "$IMG" s3)
    for step in import-verified import-prepared import-placed record-write record-before-rename; do
        export XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/st-$step
        d=$BATS_TEST_TMPDIR/d-$step
        mkdir -p "$d"
        run -0 xs import --disk-dir "$d" "$BATS_TEST_TMPDIR/b1"
        run -137 env XL_SNAPSHOT_FAULT=$step "$XS" import --disk-dir "$d" "$BATS_TEST_TMPDIR/b3"
        run -0 xs check --repair
        run -0 xs check
        xs info g1 s3 >/dev/null 2>&1 || run -0 xs import --disk-dir "$d" "$BATS_TEST_TMPDIR/b3"
        run -0 xs list --names g1
        assert_output "s1
s3"
        [ "$(sum "$d/g1.s3.qcow2")" = "$s3" ]
    done
}

@test "export shows progress on a terminal's stderr, and none without one or with -q" {
    mkchain3
    run -0 script -qec "'$XS' export g1 s2 '$BATS_TEST_TMPDIR/t1'" /dev/null
    assert_output --regexp $'\rdisk-xvda.qcow2: +[0-9.]+ MiB / [0-9.]+ MiB +100%'
    run -0 xs export g1 s2 "$BATS_TEST_TMPDIR/t2"
    refute_output --partial $'\r'
    run -0 script -qec "'$XS' -q export g1 s2 '$BATS_TEST_TMPDIR/t3'" /dev/null
    refute_output --partial "MiB"
}

@test "an import that fails after placing a disk removes what it made, nothing else" {
    mkchain3
    run -0 xs export g1 s1 "$BATS_TEST_TMPDIR/b1"
    run -0 xs export --delta --base s1 g1 s3 "$BATS_TEST_TMPDIR/b3"
    export XL_SNAPSHOT_DIR=$BATS_TEST_TMPDIR/state2
    mkdir "$BATS_TEST_TMPDIR/disks2"
    run -0 xs import --disk-dir "$BATS_TEST_TMPDIR/disks2" "$BATS_TEST_TMPDIR/b1"
    s1=$(sum "$BATS_TEST_TMPDIR/disks2/g1.s1.qcow2")
    # the delta's disk is placed, then pointing it at the base fails
    cat > "$BATS_TEST_TMPDIR/qemu-img" <<'SH'
#!/bin/sh
[ "$1" = rebase ] && { echo "qemu-img: injected rebase failure" >&2; exit 1; }
exec qemu-img "$@"
SH
    chmod +x "$BATS_TEST_TMPDIR/qemu-img"
    XL_SNAPSHOT_QEMU_IMG=$BATS_TEST_TMPDIR/qemu-img run -1 xs import --disk-dir "$BATS_TEST_TMPDIR/disks2" "$BATS_TEST_TMPDIR/b3"
    assert_output --partial "injected rebase failure"
    # s3's image and record are gone, the staging dir too; s1 is untouched
    run -0 ls -A "$BATS_TEST_TMPDIR/disks2"
    assert_output "g1.s1.qcow2"
    [ "$(sum "$BATS_TEST_TMPDIR/disks2/g1.s1.qcow2")" = "$s1" ]
    run -0 find "$XL_SNAPSHOT_DIR" -name record.json
    assert_output "$XL_SNAPSHOT_DIR/$UUID/s1/record.json"
    run -0 find "$XL_SNAPSHOT_DIR" -maxdepth 2 -name '*import*'
    assert_output ""
    run -0 xs list g1
    refute_output --partial s3
    # and the import then succeeds
    run -0 xs import --disk-dir "$BATS_TEST_TMPDIR/disks2" "$BATS_TEST_TMPDIR/b3"
    assert_line "Imported snapshot 's3' of domain 'g1' ($UUID), child of 's1'."
}
