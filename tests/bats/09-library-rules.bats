#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-only
# The library's promises, read from its sources: it never aborts, never
# exits, never prints, and never speaks the CLI's language (its errors
# carry an advice code, xlsnap_error_hint, that the CLI words).
load helpers

# lib_code: "file:line:text" of every library source line that is code,
# not a comment (block comments and // comments dropped)
lib_code() {
    local f
    for f in "$REPO"/libxlsnap/*.[ch] "$REPO"/libxlsnap/*/*.[ch]; do
        [ -e "$f" ] || continue
        awk -v f="${f#"$REPO"/}" '
            {
                line = $0; out = ""
                while (line != "") {
                    if (inc) {
                        e = index(line, "*/")
                        if (!e) { line = ""; break }
                        line = substr(line, e + 2); inc = 0
                        continue
                    }
                    s = index(line, "/*"); d = index(line, "//")
                    if (d && (!s || d < s) && !instr(substr(line, 1, d - 1))) {
                        out = out substr(line, 1, d - 1); line = ""; break
                    }
                    if (!s || instr(substr(line, 1, s - 1))) { out = out line; break }
                    out = out substr(line, 1, s - 1)
                    line = substr(line, s + 2); inc = 1
                }
                if (out ~ /[^ \t]/) print f ":" NR ":" out
            }
            # whether text ends inside a string literal (odd count of
            # unescaped double quotes)
            function instr(t,   n, i, c) {
                n = 0
                for (i = 1; i <= length(t); i++) {
                    c = substr(t, i, 1)
                    if (c == "\\") { i++; continue }
                    if (c == "\"") n++
                }
                return n % 2
            }' "$f"
    done
}

# string literals of the library code, one per line, as file:line:"text"
lib_strings() {
    lib_code | awk '{
        split($0, a, ":"); where = a[1] ":" a[2]
        t = substr($0, length(where) + 2)
        while (match(t, /"([^"\\]|\\.)*"/)) {
            print where ":" substr(t, RSTART, RLENGTH)
            t = substr(t, RSTART + RLENGTH)
        }
    }'
}

@test "the library never aborts, exits or prints to stdout/stderr" {
    run lib_code
    [ "$status" -eq 0 ]
    [ -n "$output" ]
    local bad
    # _exit() is what a forked child calls; the domain monitor daemon
    # that backend/libxl.c forks (xl's monitor) writes its own log file
    # through its stderr.  Out of memory is an error like any other
    # (XLSNAP_ERROR_NOMEM): no abort, no assert, no err()/error().
    bad=$(grep -E '\babort[[:space:]]*\(|\b(exit|_Exit|quick_exit)[[:space:]]*\(|\bassert[[:space:]]*\(|\b(err|errx|verr|verrx|error|error_at_line)[[:space:]]*\(|\bprintf[[:space:]]*\(|\b(fprintf|fputs|fputc|putc|fwrite|vfprintf)[[:space:]]*\([^;]*\b(stdout|stderr)\b|\b(puts|putchar|perror)[[:space:]]*\(' <<<"$output" |
          grep -vE '^libxlsnap/backend/libxl\.c:[0-9]+: *fprintf\(stderr,' || true)
    [ -z "$bad" ] || { echo "$bad"; return 1; }
}

# What the built library calls, whatever its sources say (a macro, an
# inline function of a header): no abort, exit or assert among its
# undefined symbols; _exit only (forked children).
@test "libxlsnap.so and libxlsnap.a call no abort(), exit() or assert()" {
    command -v nm >/dev/null || skip "no nm"
    local so=$REPO/build/libxlsnap.so a=$REPO/build/libxlsnap.a bad
    [ -e "$so" ] && [ -e "$a" ]
    run nm -D --undefined-only "$so"
    [ "$status" -eq 0 ]
    [[ $output == *" U "* ]]            # the listing is what we think
    bad=$(grep -wE '(abort|exit|_Exit|quick_exit|__assert_fail|__assert_perror_fail|__assert|err|errx|verr|verrx|error|error_at_line)(@.*)?$' <<<"$output" || true)
    [ -z "$bad" ] || { echo "libxlsnap.so: $bad"; return 1; }
    run nm --undefined-only "$a"
    [ "$status" -eq 0 ]
    bad=$(grep -wE 'U (abort|exit|_Exit|quick_exit|__assert_fail|__assert_perror_fail|__assert|err|errx|verr|verrx|error|error_at_line)$' <<<"$output" || true)
    [ -z "$bad" ] || { echo "libxlsnap.a: $bad"; return 1; }
}

# tests/unit/test_nomem.c makes each allocation of the library fail in
# turn; this runs it (fast) from the bats suite too.
@test "out of memory anywhere in the library gives XLSNAP_ERROR_NOMEM, never a crash" {
    local t=$REPO/build/tests/test_nomem
    [ -x "$t" ]
    run "$t"
    [ "$status" -eq 0 ]
    [[ $output == *"1.."* ]]
    refute_output --partial "not ok"
}

@test "the library's strings name no command-line option and no xl-snapshot command" {
    run lib_strings
    [ "$status" -eq 0 ]
    [ -n "$output" ]
    local bad
    # a whole "--opt" or "--opt=value" literal is an argv element of a
    # program the library runs (qemu-img), not advice
    bad=$(grep -E '"[^"]*(^|[^-[:alnum:]])--[a-z]' <<<"$output" |
          grep -vE ':"--[a-z][a-z0-9-]*(=[^" ]*)?"$' || true)
    bad="$bad$(grep -E "'xl-snapshot |run xl-snapshot |xl-snapshot (check|revert|delete|create|list|info|import|export|prune|redefine|current|parent)\b" <<<"$output" || true)"
    [ -z "$bad" ] || { echo "$bad"; return 1; }
}
