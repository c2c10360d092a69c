#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""gen-records.py STATE_DIR N [UUID [DOMAIN]]: write N snapshot records of one
domain as the store does (a chain, the last one current), each with a
realistic libxl domain configuration, for the list benchmark."""
import json
import os
import sys

state, n = sys.argv[1], int(sys.argv[2])
uuid = sys.argv[3] if len(sys.argv) > 3 else "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
domain = sys.argv[4] if len(sys.argv) > 4 else "guest1"


def config(name):
    disks = [{"pdev_path": "/srv/xen/%s/%s.qcow2" % (name, v), "vdev": v,
              "backend": "qdisk", "format": "qcow2", "removable": 1,
              "readwrite": 1, "specification": "xen", "protocol": "x86_64-abi"}
             for v in ("xvda", "xvdb")]
    return {
        "c_info": {"type": "pv", "name": name, "uuid": uuid,
                   "run_hotplug_scripts": "True"},
        "b_info": {"max_vcpus": 1, "avail_vcpus": [0], "max_memkb": 262144,
                   "target_memkb": 262144, "shadow_memkb": 3072,
                   "sched_params": {}, "claim_mode": "True",
                   "kernel": "/srv/xen/vmlinuz", "cmdline": "console=hvc0 quiet",
                   "ramdisk": "/srv/xen/initrd.gz", "tee": "none",
                   "type.pv": {}, "arch_arm": {}, "arch_x86": {
                       "msr_relaxed": "False"}},
        "disks": disks,
        "nics": [{"devid": 0, "mac": "00:16:3e:12:34:56", "bridge": "xenbr0",
                  "script": "/etc/xen/scripts/vif-bridge", "nictype": "vif"}],
        "vfbs": [], "vkbs": [], "on_poweroff": "destroy",
        "on_reboot": "restart", "on_watchdog": "destroy",
        "on_crash": "destroy", "on_soft_reset": "soft_reset",
    }


cfg = config(domain)
os.makedirs(os.path.join(state, uuid), mode=0o700, exist_ok=True)
os.chmod(state, 0o700)
for i in range(n):
    name = "snap%05d" % i
    d = os.path.join(state, uuid, name)
    os.makedirs(d, mode=0o700, exist_ok=True)
    rec = {
        "version": 1, "name": name, "description": "nightly %d" % i,
        "creationtime": 1764000000 + 60 * i, "state": "ready",
        "type": "internal", "domstate": "running",
        "memory": os.path.join(d, "memory.save"),
        "parent": "snap%05d" % (i - 1) if i else None,
        "current": i == n - 1,
        "domain": {"name": domain, "uuid": uuid},
        "disks": [{"vdev": v, "format": "qcow2",
                   "image": "/srv/xen/%s/%s.qcow2" % (domain, v),
                   "snapshot": "internal", "internal_name": name}
                  for v in ("xvda", "xvdb")],
        "config": cfg,
    }
    p = os.path.join(d, "record.json")
    with open(p, "w") as f:
        json.dump(rec, f, indent=4)
    os.chmod(p, 0o600)
