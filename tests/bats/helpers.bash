# SPDX-License-Identifier: GPL-2.0-only
# helpers.bash - shared set-up for the host bats suite (no hypervisor).
bats_require_minimum_version 1.5.0
# the tree: two levels above the test file's directory (tests/bats,
# tests/deb, tests/lib, tests/valgrind), which bats gives as an absolute path
REPO=${BATS_TEST_DIRNAME%/*/*}
# bats-support and -assert without a process per file (bats sources this
# once per test)
# shellcheck source=../e2e/lib/bats-libs.bash
. "$REPO/tests/e2e/lib/bats-libs.bash"
xlsnap_load_bats_lib bats-support
xlsnap_load_bats_lib bats-assert
XS=${XL_SNAPSHOT_BIN:-$REPO/build/xl-snapshot}
UUID=6ba7b810-9dad-11d1-80b4-00c04fd430c8

setup() {
    STATE=$BATS_TEST_TMPDIR/state
    export XL_SNAPSHOT_DIR=$STATE
}

# xs ARGS...: the tool under test
xs() { "$XS" "$@"; }

# mkrecord NAME PARENT|- CREATIONTIME CURRENT(true|false) [STATE] [UUID] [DOMNAME]
# Writes a record as the store would, to set up list/info tests.
mkrecord() {
    local name=$1 parent=$2 t=$3 cur=$4 st=${5:-ready} uuid=${6:-$UUID}
    local dname=${7:-g1} p
    [ "$parent" = - ] && p=null || p="\"$parent\""
    mkdir -p -m 0700 "$STATE" "$STATE/$uuid" "$STATE/$uuid/$name"
    cat > "$STATE/$uuid/$name/record.json" <<JSON
{
    "version": 1,
    "name": "$name",
    "description": "snapshot $name",
    "creationtime": $t,
    "state": "$st",
    "type": "internal",
    "domstate": "running",
    "memory": "$STATE/$uuid/$name/memory.save",
    "parent": $p,
    "current": $cur,
    "domain": { "name": "$dname", "uuid": "$uuid" },
    "disks": [
        { "vdev": "xvda", "format": "qcow2", "image": "/img/g1.qcow2",
          "snapshot": "internal", "internal_name": "$name" },
        { "vdev": "xvdb", "format": "qcow2", "image": "/img/d.qcow2",
          "snapshot": "external", "overlay": "/img/d.$name.qcow2",
          "backing": "/img/d.qcow2" }
    ],
    "config": { "c_info": { "type": "pv", "name": "$dname" },
                "b_info": { "max_memkb": 131072 } }
}
JSON
    chmod 0600 "$STATE/$uuid/$name/record.json"
}

# The three-record fixture: chain s0 -> s1 -> s2, s1 current.
mkchain() {
    mkrecord s0 - 1764000000 false
    mkrecord s1 s0 1764000100 true
    mkrecord s2 s1 1764000200 false
}

# json_get EXPR: evaluate a python expression on the JSON on stdin (d)
json_get() {
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

# setup_images [EXTRA_DISK_JSON]: two qcow2 images of a stopped domain g1
# and a record "base" (current, no disks) whose stored config names them.
setup_images() {
    IMG=$BATS_TEST_TMPDIR/g1.qcow2
    DATA=$BATS_TEST_TMPDIR/data.qcow2
    RAW=$BATS_TEST_TMPDIR/raw.img
    qemu-img create -q -f qcow2 "$IMG" 4M
    qemu-img create -q -f qcow2 "$DATA" 4M
    mkrecord base - 1764000000 true
    python3 - "$STATE/$UUID/base/record.json" "$IMG" "$DATA" "${1:-}" <<'PY'
import json, sys
p, img, data, extra = sys.argv[1:5]
r = json.load(open(p))
disks = [{"pdev_path": img, "vdev": "xvda", "backend": "qdisk", "format": "qcow2", "readwrite": 1},
         {"pdev_path": data, "vdev": "xvdb", "backend": "qdisk", "format": "qcow2", "readwrite": 1},
         {"pdev_path": "/srv/iso/x.iso", "vdev": "hdc", "format": "raw", "is_cdrom": 1, "readwrite": 0}]
if extra:
    disks.append(json.loads(extra))
r["config"] = {"c_info": {"name": "g1", "uuid": r["domain"]["uuid"]}, "disks": disks}
r["disks"] = []
r["memory"] = None
json.dump(r, open(p, "w"))
PY
}

# bare NAME PARENT|- TIME CURRENT [STATE]: a record without disks or memory
bare() {
    mkrecord "$@"
    python3 - "$STATE/$UUID/$1/record.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
r["disks"] = []
r["memory"] = None
json.dump(r, open(sys.argv[1], "w"))
PY
}

# domain_one_disk MiB [PATTERN [IMAGE]]: a stopped domain g1 with one
# qcow2 disk ($IMG: IMAGE, default img/g1.qcow2 in the test's dir; MiB
# big, filled with PATTERN unless that is empty) and a record "base"
# (current, no disks) whose stored config names it
domain_one_disk() {
    IMG=${3:-$BATS_TEST_TMPDIR/img/g1.qcow2}
    mkdir -p "$(dirname "$IMG")"
    qemu-img create -q -f qcow2 "$IMG" "${1}M"
    [ -z "${2:-}" ] || qemu-io -f qcow2 -c "write -q -P $2 0 ${1}M" "$IMG"
    mkrecord base - 1764000000 true
    python3 - "$STATE/$UUID/base/record.json" "$IMG" <<'PY'
import json, sys
p, img = sys.argv[1:3]
r = json.load(open(p))
r["config"] = {"c_info": {"name": "g1", "uuid": r["domain"]["uuid"]},
               "disks": [{"pdev_path": img, "vdev": "xvda", "backend": "qdisk",
                          "format": "qcow2", "readwrite": 1}]}
r["disks"] = []
r["memory"] = None
json.dump(r, open(p, "w"))
PY
}

# mk_external_chain: a stopped domain with an external chain e1 <- e2 <- e3 (active: $IMG),
# each layer holding 1 MiB of its own pattern
# (D the image dir, E1 E2 E3 the frozen layers)
mk_external_chain() {
    D=$BATS_TEST_TMPDIR/img
    domain_one_disk 4 0x11 "$D/g1.qcow2"
    for s in e1 e2 e3; do
        run -0 xs create --external --disk-only -n $s g1
        case $s in e1) p=0x22 ;; e2) p=0x33 ;; e3) p=0x44 ;; esac
        qemu-io -f qcow2 -c "write -q -P $p 1M 1M" "$IMG"
    done
    E1=$D/g1.e1.qcow2
    E2=$D/g1.e2.qcow2
    E3=$D/g1.e3.qcow2
}

# write PATTERN: fill the first 64k of an image with a byte pattern
fill() { qemu-io -f qcow2 -c "write -q -P $2 0 64k" "$1"; }
has() { qemu-io -f qcow2 -c "read -q -P $2 0 64k" "$1" >/dev/null 2>&1 && ! qemu-io -f qcow2 -c "read -P $2 0 64k" "$1" 2>&1 | grep -q "Pattern verification failed"; }
