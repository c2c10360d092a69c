/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * halt.c - stop a domain after a snapshot (xlsnap_halt; libvirt's
 * "snapshot-create --halt")
 *
 * Destroyed, not shut down: a snapshot with memory holds the state the
 * guest had, and reverting to it resumes from there; a clean shutdown
 * would need the guest's cooperation (it may take minutes or never
 * happen) and would change the disks after the snapshot for nothing.
 */
#include "internal.h"

int xlsnap_halt(xlsnap_ctx *ctx, const xlsnap_domain *dom)
{
    xlsnap__domstate st;
    int rc;

    if (dom->domid < 0) return 0;
    if ((rc = xlsnap__hv_state(ctx, dom->domid, &st))) goto out;
    if (st == XLSNAP__DOM_GONE) goto out;
    rc = xlsnap__hv_destroy(ctx, dom->domid);
 out:
    return rc;
}

/*
 * Local variables:
 * mode: C
 * c-basic-offset: 4
 * indent-tabs-mode: nil
 * End:
 */
