#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# list: table, tree, JSON, filters, domain lookup without a hypervisor.
load helpers

@test "list by UUID works without a hypervisor" {
    mkchain
    run -0 xs list "$UUID"
    assert_line --index 0 --regexp '^  NAME +CREATED +STATE +DOMAIN +TYPE +MEMORY +PARENT$'
    assert_line --index 1 --regexp '^  s0 +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} +ready +running +mixed +yes +-'
    assert_line --index 2 --regexp '^\* s1 .* s0 *$'
    assert_line --index 3 --regexp '^  s2 .* s1 *$'
    [ "${#lines[@]}" -eq 4 ]
}

@test "list by the domain name stored in the records (domain destroyed)" {
    mkchain
    run -0 xs list g1
    assert_line --index 2 --regexp '^\* s1 '
}

@test "the UUID may be given in upper case" {
    mkchain
    run -0 xs list "${UUID^^}"
    assert_output --partial "s2"
}

@test "created column is local time, sorted by creation time" {
    mkrecord late - 1764000900 false
    mkrecord early - 1764000001 false
    export TZ=UTC
    run -0 xs list g1
    assert_line --index 1 --partial "early  2025-11-24 16:00:01"
    assert_line --index 2 --partial "late "
}

@test "list --json is one valid document with every field" {
    mkchain
    run -0 xs list --json "$UUID"
    echo "$output" | json_get 'd["domain"]["uuid"]' | grep -qx "$UUID"
    run -0 json_get 'len(d["snapshots"])' <<< "$(xs list --json g1)"
    assert_output 3
    run -0 json_get '[s["name"] for s in d["snapshots"] if s["current"]]' <<< "$(xs list --json g1)"
    assert_output "['s1']"
    run -0 json_get 'sorted(d["snapshots"][1].keys())' <<< "$(xs list --json g1)"
    assert_output "['config', 'creationtime', 'current', 'description', 'disks', 'domain', 'domstate', 'memory', 'name', 'parent', 'state', 'type', 'version']"
    run -0 json_get 'd["snapshots"][2]["parent"], d["snapshots"][0]["parent"]' <<< "$(xs list --json g1)"
    assert_output "('s1', None)"
    run -0 json_get 'd["snapshots"][0]["config"]["b_info"]["max_memkb"]' <<< "$(xs list --json g1)"
    assert_output 131072
    run -0 json_get 'd["snapshots"][0]["disks"][1]["overlay"]' <<< "$(xs list --json g1)"
    assert_output "/img/d.s0.qcow2"
}

@test "list --json of a domain without snapshots is an empty list" {
    run -0 xs list --json 11111111-2222-3333-4444-555555555555
    run -0 json_get 'd["snapshots"]' <<< "$output"
    assert_output "[]"
}

@test "list --tree draws the chain" {
    mkchain
    run -0 xs list --tree g1
    assert_output "s0
\`-- s1 *
    \`-- s2"
}

@test "list --tree draws branches" {
    mkrecord base - 100 false
    mkrecord a base 200 false
    mkrecord a1 a 300 true
    mkrecord b base 400 false
    mkrecord other - 500 false
    run -0 xs list --tree g1
    assert_output "base
|-- a
|   \`-- a1 *
\`-- b
other"
    run -0 xs list --tree --from a g1
    assert_output "a
\`-- a1 *"
}

@test "list filters: --roots --leaves --parent --from --names" {
    mkrecord base - 100 false
    mkrecord a base 200 false
    mkrecord a1 a 300 true
    mkrecord b base 400 false
    run -0 xs list --names g1
    assert_output "$(printf 'base\na\na1\nb')"
    run -0 xs list --roots g1
    assert_line --index 1 --partial base
    [ "${#lines[@]}" -eq 2 ]
    run -0 xs list --leaves --json g1
    run -0 json_get '[s["name"] for s in d["snapshots"]]' <<< "$output"
    assert_output "['a1', 'b']"
    run -0 xs list --parent base --json g1
    run -0 json_get '[s["name"] for s in d["snapshots"]]' <<< "$output"
    assert_output "['a', 'b']"
    run -0 xs list --from a --json g1
    run -0 json_get '[s["name"] for s in d["snapshots"]]' <<< "$output"
    assert_output "['a1']"
    run -1 xs list --from nope g1
    assert_output "xl-snapshot: cannot list snapshots of 'g1': no snapshot 'nope'"
}

@test "list -l shows description and disks" {
    mkchain
    run -0 xs list -l g1
    assert_output --partial "    description: snapshot s1"
    assert_output --partial "    disk xvda: qcow2 internal snapshot 's1' in /img/g1.qcow2"
    assert_output --partial "    disk xvdb: qcow2 external, data in /img/d.qcow2, overlay /img/d.s1.qcow2"
}

@test "a preparing snapshot is marked" {
    mkrecord s0 - 100 false preparing
    run -0 xs list g1
    assert_output --regexp 's0 .* preparing '
    run -0 xs list --tree g1
    assert_output "s0 (preparing)"
}

@test "unknown domain name exits 1 with a clear message" {
    run -1 xs list nosuchdomain
    assert_output --partial "xl-snapshot: cannot list snapshots of 'nosuchdomain': no domain 'nosuchdomain'"
}

@test "a domid needs a hypervisor" {
    [ -e /dev/xen/privcmd ] && skip "running on a Xen host"
    run -1 xs list 7
    assert_output --partial "needs a running hypervisor"
}

@test "two destroyed domains with the same name are ambiguous" {
    mkrecord s0 - 100 false ready 6ba7b810-9dad-11d1-80b4-00c04fd430c8 web
    mkrecord s0 - 100 false ready 7ba7b810-9dad-11d1-80b4-00c04fd430c8 web
    run -1 xs list web
    assert_output --partial "ambiguous"
    run -0 xs list 7ba7b810-9dad-11d1-80b4-00c04fd430c8
}

@test "options may follow the positional arguments (list NAME --names, info NAME SNAP --json)" {
    mkchain
    run -0 xs list g1 --names
    assert_output "$(printf 's0\ns1\ns2')"
    run -0 xs info g1 s1 --json
    assert_output --partial '"name": "s1"'
    run -2 xs list g1 --bogus
    assert_output --partial "unknown option '--bogus'"
}

# kind RECORD MEMORY DOMSTATE DISKS: rewrite a record's memory, domstate
# and disk kinds (DISKS: i = internal only, e = external only, m = both)
kind() {
    local f=$STATE/$UUID/$1/record.json
    python3 - "$f" "$2" "$3" "$4" <<'PY'
import json, sys
f, mem, st, disks = sys.argv[1:]
r = json.load(open(f))
r["memory"] = None if mem == "-" else r["memory"]
r["domstate"] = st
r["disks"] = [d for d in r["disks"] if
              {"i": ["internal"], "e": ["external"], "m": ["internal", "external"]}[disks].count(d["snapshot"])]
json.dump(r, open(f, "w"))
PY
}

names() { run -0 xs list --names "$@" g1; }

@test "virsh's list filters: --no-leaves --current --descendants" {
    mkrecord base - 100 false
    mkrecord a base 200 false
    mkrecord a1 a 300 true
    mkrecord a2 a1 350 false
    mkrecord b base 400 false
    names --no-leaves
    assert_output "$(printf 'base\na\na1')"
    names --current
    assert_output a1
    names --current --descendants
    assert_output a2
    names --parent base --descendants
    assert_output "$(printf 'a\na1\na2\nb')"
    names --parent base --descendants --no-leaves
    assert_output "$(printf 'a\na1')"
    names --roots --no-leaves
    assert_output base
    run -0 xs list --tree --current --descendants g1
    assert_output "a1 *
\`-- a2"
    run -2 xs list --descendants g1
    assert_output "xl-snapshot: list: --descendants goes with one of --parent NAME or --current"
    run -2 xs list --leaves --no-leaves g1
    run -2 xs list --roots --current --descendants g1
    run -2 xs list --tree --no-leaves g1
    # --topological does not make --tree accept a narrowing filter
    run -2 xs list --tree --topological --no-leaves g1
    run -2 xs list --tree --topological --current g1
    run -0 xs list --tree --topological g1
}

@test "list --current --descendants without a current snapshot exits 1" {
    mkrecord base - 100 false
    run -1 xs list --current --descendants g1
    assert_output "xl-snapshot: cannot list snapshots of 'g1': it has no current snapshot"
}

@test "virsh's list filters: --internal --external --active --inactive --disk-only" {
    mkrecord mem - 100 false          # memory, running, internal + external
    mkrecord off mem 200 false
    kind off - shutoff i              # taken while off, internal
    mkrecord dsk off 300 true
    kind dsk - running e              # disk-only of a running domain, external
    names --active
    assert_output mem
    names --inactive
    assert_output off
    names --disk-only
    assert_output dsk
    names --active --inactive
    assert_output "$(printf 'mem\noff')"
    names --internal
    assert_output "$(printf 'mem\noff')"
    names --external
    assert_output "$(printf 'mem\ndsk')"
    names --internal --external
    assert_output "$(printf 'mem\noff\ndsk')"
    names --internal --disk-only
    assert_output ""
    run -0 xs list --external --json g1
    run -0 json_get '[s["name"] for s in d["snapshots"]]' <<< "$output"
    assert_output "['mem', 'dsk']"
    run -0 xs list --inactive g1
    assert_line --index 1 --partial "off"
    [ "${#lines[@]}" -eq 2 ]
}

@test "list --topological: every snapshot after its parent, in table, names and JSON" {
    # created out of tree order: b2's parent b is newer than a (b2 older)
    mkrecord base - 100 false
    mkrecord b2 b 150 false
    mkrecord a base 200 false
    mkrecord b base 300 true
    mkrecord a1 a 400 false
    names
    assert_output "$(printf 'base\nb2\na\nb\na1')"
    names --topological
    assert_output "$(printf 'base\na\na1\nb\nb2')"
    run -0 xs list --topological --json g1
    run -0 json_get '[s["name"] for s in d["snapshots"]]' <<< "$output"
    assert_output "['base', 'a', 'a1', 'b', 'b2']"
    run -0 xs list --topological g1
    run -0 awk 'NR > 1 { sub(/^\*/, " "); print $1 }' <<< "$output"
    assert_output "$(printf 'base\na\na1\nb\nb2')"
    names --topological --leaves
    assert_output "$(printf 'a1\nb2')"
}
