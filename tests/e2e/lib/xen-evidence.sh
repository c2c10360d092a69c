# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
# Evidence, in Xen's console, that the EMULATOR (QEMU's TCG nested SVM)
# and not the guest or the tool killed a guest.  Sourced by
# dom0-run-tests.sh; tested on the host by tests/bats/90-e2e-harness.bats
# with Xen console text from real runs.
#
# When a HVM/PVH vCPU triple-faults, Xen prints
#   (XEN) d78v0 Triple fault - invoking HVM shutdown action 1
#   (XEN) *** Dumping Dom78 vcpu#0 state: ***
#   ...
#   (XEN) RIP:    e008:[<ffff82d0402044a5>]
#   (XEN) RFLAGS: 0000000000000246   CONTEXT: hvm guest (d78v0)
# The dump is the GUEST's state.  A guest can never run with Xen's own
# code selector (e008) at an address in Xen's text (ffff82d0...): that
# state exists only because QEMU wrote the host's registers into the
# guest's VMCB on a #VMEXIT (see tests/e2e/README.md, "PVH resets").  No
# guest kernel, no xl and no xl-snapshot action can produce it.

# e2e_emulator_faults: reads Xen console text on stdin; prints
# "<domid> <rip>" for each triple fault whose dumped guest state has
# Xen's own CS:RIP.  Other triple faults (a guest's own bug) print nothing.
e2e_emulator_faults() {
    tr -d '\r' | awk '
        /d[0-9]+v[0-9]+ Triple fault/ {
            match($0, /d[0-9]+v[0-9]+ Triple fault/)
            dom = substr($0, RSTART + 1, RLENGTH - 14)
            sub(/v.*/, "", dom)
            n = 0; rip = ""
            next
        }
        dom != "" {
            if (++n > 12) { dom = ""; next }
            if ($0 ~ /RIP: +e008:\[<ffff82d0[0-9a-f]+>\]/) {
                rip = $0; sub(/.*RIP: +/, "", rip); sub(/ .*/, "", rip)
            }
            if ($0 ~ /CONTEXT: hvm guest/) {
                if (rip != "") print dom, rip
                dom = ""
            }
        }'
}

# e2e_retried_domids: reads boot-retries.txt lines on stdin ("FILE NAME
# reset while booting (domid 72 -> 73)"); prints the domids whose failed
# boot the harness already retried.
e2e_retried_domids() {
    sed -n 's/.*(domid \([0-9]*\).*/\1/p'
}
