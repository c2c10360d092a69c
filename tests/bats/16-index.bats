#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# issue 14: the list index keeps every field as the record does (one
# field table), and a list racing a writer never leaves an index that
# pairs old contents with new stat keys.
load helpers

@test "a deleting record stays deleting, list after list (index)" {
    mkrecord s0 - 1764000000 false
    mkrecord s1 s0 1764000100 true deleting
    mkrecord s2 s1 1764000200 false preparing
    for i in 1 2 3; do
        run -0 xs list "$UUID"
        assert_line --index 1 --regexp '^  s0 .* ready '
        assert_line --index 2 --regexp '^\* s1 .* deleting '
        assert_line --index 3 --regexp '^  s2 .* preparing '
        run -0 xs list --json "$UUID"
        run -0 json_get '[s["state"] for s in d["snapshots"]]' <<< "$output"
        assert_output "['ready', 'deleting', 'preparing']"
    done
    [ -f "$STATE/$UUID/.index" ]
}

@test "an index of the old form (state as 0/1) is not read as it is" {
    mkrecord s0 - 1764000000 false
    mkrecord s1 s0 1764000100 true deleting
    run -0 xs list "$UUID"
    # what an older version wrote: the state as a number, 0 = not ready
    sed -i 's/\t=deleting\t/\t0\t/' "$STATE/$UUID/.index"
    run -0 xs list "$UUID"
    assert_line --index 2 --regexp '^\* s1 .* deleting '
}

@test "list writes no index while another holds the domain's lock" {
    mkchain
    run -0 xs list "$UUID"
    good=$output
    rm "$STATE/$UUID/.index"
    # a writer holds the lock: list does not wait, shows the records,
    # and leaves no index made beside that writer
    run -0 flock "$STATE/$UUID/.lock" "$XS" list "$UUID"
    [ "$output" = "$good" ]
    [ ! -e "$STATE/$UUID/.index" ]
    run -0 xs list "$UUID"
    [ "$output" = "$good" ]
    [ -f "$STATE/$UUID/.index" ]
}

# The records' view: the names whose record.json says current.
records_current() {
    python3 - "$STATE/$UUID" <<'PY'
import json, os, sys
d = sys.argv[1]
print(" ".join(sorted(n for n in os.listdir(d) if not n.startswith(".")
      and json.load(open(os.path.join(d, n, "record.json")))["current"])))
PY
}

@test "list racing current never leaves a stale index" {
    python3 "$REPO/bench/gen-records.py" "$STATE" 200 "$UUID"
    run -0 xs list "$UUID"
    for i in $(seq 1 30); do
        t=$(printf 'snap%05d' $(( (i * 37) % 200 )))
        xs current "$UUID" "$t" &
        # current reads every record before it writes two: start list
        # at various points of that, so that its reading overlaps
        sleep "0.0$(( i % 8 ))"
        xs list "$UUID" > /dev/null
        wait $!
        # nothing runs now: what list shows must be what the records say
        run -0 xs list --json "$UUID"
        run -0 json_get '" ".join(sorted(s["name"] for s in d["snapshots"] if s["current"]))' <<< "$output"
        [ "$output" = "$t" ] || {
            echo "round $i: list shows current '$output', records say '$(records_current)'"
            false
        }
    done
}
