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

# wait_file FILE PID: poll until FILE exists (0) or PID has ended or 60 s
# have passed (1).
wait_file() {
    local i
    for i in $(seq 1 6000); do
        [ -e "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || { [ -e "$1" ]; return; }
        sleep 0.01
    done
    return 1
}

# The stale-index race made deterministic: tests/bats/helpers/pause.c
# (LD_PRELOAD, timing only: the real binary, the real records) stops list
# after it has read the records and before it makes the index, and
# current runs then.  Before the fix (19681b5 and earlier) list took no
# lock and took the stat keys after that point: the index kept s1
# current under the keys of the records current had just rewritten, and
# passed every later check ("* s1" for ever).  Now list holds the lock
# from before its keys and reads: current waits for it and runs after,
# and the index it leaves fails the next check.
@test "list stopped between reading the records and writing the index, current meanwhile: the index is not stale" {
    mkchain
    shim=$BATS_FILE_TMPDIR/pause.so
    [ -f "$shim" ] || cc -shared -fPIC -O1 -o "$shim" \
        "$BATS_TEST_DIRNAME/helpers/pause.c" -ldl
    p=$BATS_TEST_TMPDIR/pause
    mkdir "$p"
    # (an ASan build must not insist on being first in the preload list)
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
    LD_PRELOAD=$shim XLSNAP_TEST_PAUSE=$p "$XS" list "$UUID" \
        > "$p/list.out" 2>&1 &
    lpid=$!
    wait_file "$p/paused" "$lpid" || {
        echo "list never reached the point of its index:"; cat "$p/list.out"
        false
    }
    LD_PRELOAD=$shim XLSNAP_TEST_BUSY=$p/busy "$XS" current "$UUID" s2 \
        > "$p/current.out" 2>&1 &
    cpid=$!
    # current either ends (nothing stops it) or finds the lock held
    wait_file "$p/busy" "$cpid" || true
    touch "$p/release"
    lrc=0 crc=0
    wait "$lpid" || lrc=$?
    wait "$cpid" || crc=$?
    echo "list ($lrc): $(cat "$p/list.out")"
    echo "current ($crc): $(cat "$p/current.out")"
    [ "$lrc" = 0 ]
    # what current reported: done (s2 is current) or refused (s1 still is)
    if [ "$crc" = 0 ]; then want=s2; else
        grep -q busy "$p/current.out"
        want=s1
    fi
    [ "$(records_current)" = "$want" ]
    for n in 1 2; do
        # (the plain list is the one served from the index)
        run -0 xs list "$UUID"
        echo "list $n:"; echo "$output"
        run -0 sed -n 's/^\* \([^ ]*\) .*/\1/p' <<< "$output"
        assert_output "$want"
        run -0 xs list --json "$UUID"
        run -0 json_get '" ".join(sorted(s["name"] for s in d["snapshots"] if s["current"]))' <<< "$output"
        assert_output "$want"
    done
    # and those lists were served from an index
    [ -f "$STATE/$UUID/.index" ]
}
