#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Sums dom0's process accounting (E2E_ACCT=1 tests/e2e/run.sh ...) by command.

    tests/e2e/acct-summary.py RUN_DIR/results/acct [TOP]

One line per command name (the kernel's 15-character comm: a forked bash
that did not exec is "bash"): processes, user and system CPU seconds,
their share of all, and the mean CPU per process.  The file holds
acct_v3 records (linux/acct.h, 64 bytes each); times are in 1/100 s
(AHZ), as comp_t (13-bit mantissa, 3-bit base-8 exponent).
"""
import collections
import struct
import sys

REC = struct.Struct('<BBHIIIIIIf8H16s')


def comp(v):
    return (v & 0x1fff) << (3 * (v >> 13))


def main():
    if len(sys.argv) < 2:
        sys.exit('usage: acct-summary.py ACCT-FILE [TOP]')
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    data = open(sys.argv[1], 'rb').read()
    n = collections.Counter()
    ut = collections.Counter()
    st = collections.Counter()
    for off in range(0, len(data) - REC.size + 1, REC.size):
        f = REC.unpack_from(data, off)
        if f[1] != 3:
            sys.exit('acct-summary.py: record at %d is not acct_v3' % off)
        name = f[18].split(b'\0', 1)[0].decode('ascii', 'replace')
        n[name] += 1
        ut[name] += comp(f[10]) / 100.0
        st[name] += comp(f[11]) / 100.0
    total = sum(ut.values()) + sum(st.values())
    print('%-16s %7s %9s %9s %6s %8s' % ('command', 'procs', 'user s', 'sys s', 'share', 'ms/proc'))
    for name in sorted(n, key=lambda k: ut[k] + st[k], reverse=True)[:top]:
        cpu = ut[name] + st[name]
        print('%-16s %7d %9.2f %9.2f %5.1f%% %8.0f' % (
            name, n[name], ut[name], st[name], 100.0 * cpu / total if total else 0,
            1000.0 * cpu / n[name]))
    print('%-16s %7d %9.2f %9.2f' % ('all', sum(n.values()), sum(ut.values()), sum(st.values())))


if __name__ == '__main__':
    main()
