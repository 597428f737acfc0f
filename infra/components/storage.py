"""Storage: Ceph through Rook (operator, cluster, block and filesystem StorageClasses, an S3 object store), or
the Ansible-built external Ceph cluster through ceph-csi (RBD block volumes, with the CSI client user that
the ceph_outputs role writes; CephFS volumes on external Ceph are not offered yet: no CSI user for it exists).
Ref: https://rook.io/docs/rook/latest-release/Helm-Charts/ and https://github.com/ceph/ceph-csi/tree/devel/charts"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.components.common import child, meta, pinned_release
from infra.config import Secrets, StackConfig


def _replicated(size: int) -> dict:
    return {"replicated": {"size": size, "requireSafeReplicaSize": size > 1}, "failureDomain": "host"}


def rook_cluster_values(cfg: StackConfig, pins: dict) -> dict:
    size = cfg.ceph_replication
    return {
        "operatorNamespace": "rook-ceph",
        "cephClusterSpec": {
            "cephVersion": {"image": pins["images"]["ceph"]},
            "mon": {"count": 3, "allowMultiplePerNode": False},
            "mgr": {"count": 2},
        },
        "cephBlockPools": [
            {
                "name": "ceph-blockpool",
                "spec": _replicated(size),
                "storageClass": {
                    "enabled": True,
                    "name": cfg.storage_class,
                    "isDefault": True,
                    "reclaimPolicy": "Retain",
                    "allowVolumeExpansion": True,
                },
            }
        ],
        "cephFileSystems": [
            {
                "name": "ceph-filesystem",
                "spec": {
                    "metadataPool": {"replicated": {"size": size}},
                    "dataPools": [{"name": "data0", **_replicated(size)}],
                    "metadataServer": {"activeCount": 1, "activeStandby": True},
                },
                "storageClass": {"enabled": True, "name": "ceph-filesystem", "pool": "data0"},
            }
        ],
        "cephObjectStores": [
            {
                "name": "ceph-objectstore",
                "spec": {
                    "metadataPool": _replicated(size),
                    "dataPool": _replicated(size),
                    "gateway": {"port": 80, "instances": 2 if size >= 3 else 1},
                },
                "storageClass": {"enabled": True, "name": "ceph-bucket"},
            }
        ],
    }


class Storage(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        cfg: StackConfig,
        secrets: Secrets,
        pins: dict,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gpu-platform:storage:Storage", name, None, opts)
        charts = pins["charts"]
        if cfg.storage_mode == "rook":
            self.namespace = k8s.core.v1.Namespace(
                f"{name}-ns", metadata=meta("rook-ceph", None, "storage"), opts=child(self)
            )
            # The operator release installs the CRDs; the cluster release (custom resources) waits for it.
            self.operator = pinned_release(
                f"{name}-rook-operator",
                charts["rook_ceph"],
                "rook-ceph",
                {"crds": {"enabled": True}, "enableDiscoveryDaemon": False},
                self,
                depends_on=[self.namespace],
            )
            self.cluster = pinned_release(
                f"{name}-rook-cluster",
                charts["rook_ceph_cluster"],
                "rook-ceph",
                rook_cluster_values(cfg, pins),
                self,
                depends_on=[self.operator],
            )
            self.releases = [self.operator, self.cluster]
        else:
            self.namespace = k8s.core.v1.Namespace(
                f"{name}-ns", metadata=meta("ceph-csi", None, "storage"), opts=child(self)
            )
            csi_config = [{"clusterID": cfg.ceph_cluster_id, "monitors": list(cfg.ceph_monitors)}]
            rbd_values = secrets.ceph_user_key.apply(
                lambda key: {
                    "csiConfig": csi_config,
                    "secret": {
                        "create": True,
                        "name": "csi-rbd-secret",
                        "userID": cfg.ceph_user_id,
                        "userKey": key,
                    },
                    "storageClass": {
                        "create": True,
                        "name": cfg.storage_class,
                        "clusterID": cfg.ceph_cluster_id,
                        "pool": "rbd",
                        "reclaimPolicy": "Retain",
                        "allowVolumeExpansion": True,
                        "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                    },
                }
            )
            self.rbd = pinned_release(
                f"{name}-ceph-csi-rbd",
                charts["ceph_csi_rbd"],
                "ceph-csi",
                pulumi.Output.secret(rbd_values),
                self,
                depends_on=[self.namespace],
            )
            self.releases = [self.rbd]
        self.storage_class = cfg.storage_class
        self.register_outputs({"storageClass": cfg.storage_class, "mode": cfg.storage_mode})
