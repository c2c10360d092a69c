# snap.bash - helpers for the xl-snapshot e2e tests (inside dom0).
# Load after lib/e2e:   load 'lib/snap'
bats_require_minimum_version 1.5.0

# log_mark NAME: remember how many lines the guest's console log has.
log_mark() { tr -d '\r' < "$(e2e_guest_log "$1")" 2>/dev/null | wc -l; }

# _complete_log NAME: the console log without CRs and without a last line
# that the guest is still writing.
_complete_log() {
    local data
    data=$(tr -d '\r' < "$(e2e_guest_log "$1")" 2>/dev/null; printf x)
    data=${data%x}
    [[ $data == *$'\n' ]] || data=${data%$'\n'*}$'\n'
    printf '%s' "$data"
}

# _wait_log NAME MARK TIMEOUT WHAT AWKPROG: poll the guest's console log
# until AWKPROG (given m = MARK) prints a value; WHAT names it on timeout.
_wait_log() {
    local name=$1 mark=$2 deadline=$((SECONDS + $3)) what=$4 prog=$5 t
    while :; do
        t=$(_complete_log "$name" | awk -v m="$mark" "$prog")
        [ -z "$t" ] || { echo "$t"; return 0; }
        [ $SECONDS -lt $deadline ] || { echo "$name: no $what after line $mark" >&2; return 1; }
        sleep 0.2
    done
}

# first_tick_after NAME MARK [TIMEOUT]: the first "tick N" printed after line MARK.
first_tick_after() {
    _wait_log "$1" "$2" "${3:-60}" tick 'NR > m && /^tick [0-9]+$/ {print $2; exit}'
}

# rewind_tick NAME MARK [TIMEOUT]: after a revert of a running guest, the
# first tick printed after line MARK that is lower than the tick before it
# (the old guest may print a few more ticks before it is destroyed).
rewind_tick() {
    _wait_log "$1" "$2" "${3:-60}" rewind '
        /^tick [0-9]+$/ { if (NR > m && prev != "" && $2 + 0 < prev + 0) { print $2; exit } prev = $2 }'
}

# boot_counter_after NAME MARK [TIMEOUT]: the "boot disk-counter N" printed after MARK.
boot_counter_after() {
    _wait_log "$1" "$2" "${3:-90}" boot 'NR > m && /^boot disk-counter [0-9]+$/ {print $3; exit}'
}

# near A B [SLACK]: A is within SLACK (3) of B; says so when not.
near() {
    local d=$(( $1 - $2 ))
    [ ${d#-} -le "${3:-3}" ] || { echo "$1 is not within ${3:-3} of $2" >&2; return 1; }
}

# on_failure_show GUEST...: in teardown, after a failed test, the tail of
# the guests' consoles and the domain list.
on_failure_show() {
    [ -z "${BATS_TEST_COMPLETED:-}" ] || return 0
    local g
    for g in "$@"; do
        [ -f "$(e2e_guest_log "$g")" ] || continue
        echo "# console $g:"
        tail -n 5 "$(e2e_guest_log "$g")"
    done
    xl list
}

# snap_disk_counter IMAGE SNAPNAME: the counter inside an internal snapshot.
snap_disk_counter() {
    local tmp=$E2E_WORK/snapread.$$.qcow2
    qemu-img convert -U -l "snapshot.name=$2" -O qcow2 "$1" "$tmp" || return 1
    e2e_disk_counter "$tmp"
    rm -f "$tmp"
}

# image_sum IMAGE: checksum of the guest-visible content of an image chain.
image_sum() {
    local tmp=$E2E_WORK/sum.$$.raw
    qemu-img convert -U -O raw "$1" "$tmp" || return 1
    md5sum < "$tmp" | cut -d' ' -f1
    rm -f "$tmp"
}

# active_disk NAME [VDEV]: the image the domain's config names now.
active_disk() {
    xl-snapshot create -N --no-memory "$1" 2>/dev/null |
        jq -r --arg v "${2:-xvda}" '.disks[] | select(.vdev == $v) | .image'
}

# uuid_of NAME
uuid_of() { xl list -v "$1" | awk 'NR==2 {print $7}'; }

# revert_rewinds NAME SNAP: a running guest, its disk counter in SNAP
# taken, counts on past it; revert --force NAME SNAP must bring it back:
# its first tick after the revert is near the snapshot's counter.
revert_rewinds() {
    local name=$1 snap=$2 d m mark first
    d=$(snap_disk_counter "$(e2e_guest_disk "$name")" "$snap") || return 1
    m=$(e2e_wait_counter_above "$name" $((d + 30)) 60) || return 1
    mark=$(log_mark "$name")
    xl-snapshot revert --force "$name" "$snap" || return 1
    first=$(rewind_tick "$name" "$mark") || return 1
    e2e_log "$name/$snap: snapshot $d, before revert $m, first tick after revert $first"
    near "$first" "$d" && [ "$first" -lt "$m" ]
}
