"""GPU support: the NVIDIA device plugin, GPU Feature Discovery, RuntimeClass `nvidia`, DCGM exporter; or the
GPU Operator with driver and toolkit off (Ansible installed them on the GPU nodes).

Ref: https://github.com/NVIDIA/k8s-device-plugin (flags MIG_STRATEGY, FAIL_ON_INIT_ERROR),
https://github.com/NVIDIA/dcgm-exporter, https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from infra.components.common import (
    RESTRICTED_CONTAINER,
    child,
    http_probe,
    meta,
    pinned_release,
    resources,
    selector,
)
from infra.config import StackConfig

NAMESPACE = "nvidia-gpu"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def gpu_node_affinity(cfg: StackConfig) -> dict:
    key = cfg.gpu_node_label
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": key, "operator": "Exists"}]}]
            }
        }
    }


class GpuSupport(pulumi.ComponentResource):
    def __init__(self, name: str, cfg: StackConfig, pins: dict, opts: pulumi.ResourceOptions | None = None):
        super().__init__("gpu-platform:gpu:GpuSupport", name, None, opts)
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-ns", metadata=meta(NAMESPACE, None, "gpu"), opts=child(self)
        )
        ns = self.namespace.metadata.name
        if cfg.gpu_stack == "gpu-operator":
            # The operator creates RuntimeClass nvidia itself and runs device plugin, GFD and DCGM exporter.
            self.operator = pinned_release(
                f"{name}-gpu-operator",
                pins["charts"]["gpu_operator"],
                NAMESPACE,
                {
                    "driver": {"enabled": False},
                    "toolkit": {"enabled": False},
                    "mig": {"strategy": cfg.mig_strategy},
                    "devicePlugin": {"env": [{"name": "FAIL_ON_INIT_ERROR", "value": "true"}]},
                    "dcgmExporter": {"enabled": True},
                    "gfd": {"enabled": True},
                    "daemonsets": {"tolerations": [GPU_TOLERATION]},
                    "node-feature-discovery": {"worker": {"tolerations": [GPU_TOLERATION]}},
                },
                self,
                depends_on=[self.namespace],
            )
            self.register_outputs({"namespace": ns, "mode": cfg.gpu_stack})
            return
        self.runtime_class = k8s.node.v1.RuntimeClass(
            f"{name}-runtimeclass",
            metadata={"name": "nvidia"},
            handler="nvidia",
            scheduling={"tolerations": [GPU_TOLERATION]},
            opts=child(self),
        )
        self.device_plugin = k8s.apps.v1.DaemonSet(
            f"{name}-device-plugin",
            metadata=meta("nvidia-device-plugin", ns, "gpu"),
            spec=self._device_plugin_spec(cfg, pins),
            opts=child(self, depends_on=[self.runtime_class]),
        )
        # GFD (with the node-feature-discovery it writes through) comes from the device plugin's own chart,
        # with the chart's device plugin off: the plugin above is ours.
        self.feature_discovery = pinned_release(
            f"{name}-gfd",
            pins["charts"]["nvidia_device_plugin"],
            NAMESPACE,
            {
                "devicePlugin": {"enabled": False},
                "gfd": {"enabled": True},
                "nfd": {"enabled": True},
                "migStrategy": cfg.mig_strategy,
                "failOnInitError": True,
                "runtimeClassName": "nvidia",
                "affinity": gpu_node_affinity(cfg),
                "tolerations": [GPU_TOLERATION],
            },
            self,
            depends_on=[self.namespace, self.runtime_class],
        )
        self.dcgm_exporter = k8s.apps.v1.DaemonSet(
            f"{name}-dcgm-exporter",
            metadata=meta("dcgm-exporter", ns, "gpu"),
            spec=self._dcgm_spec(cfg, pins),
            opts=child(self, depends_on=[self.runtime_class]),
        )
        self.dcgm_service = k8s.core.v1.Service(
            f"{name}-dcgm-exporter",
            metadata=meta("dcgm-exporter", ns, "gpu"),
            spec={
                "selector": selector("dcgm-exporter"),
                "clusterIP": "None",
                "ports": [{"name": "metrics", "port": 9400, "targetPort": "metrics"}],
            },
            opts=child(self),
        )
        self.register_outputs(
            {"namespace": ns, "mode": cfg.gpu_stack, "deviceImage": pins["images"]["nvidia_device_plugin"]}
        )

    @staticmethod
    def _device_plugin_spec(cfg: StackConfig, pins: dict) -> dict:
        return {
            "selector": {"matchLabels": selector("nvidia-device-plugin")},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": selector("nvidia-device-plugin")},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    "runtimeClassName": "nvidia",
                    "affinity": gpu_node_affinity(cfg),
                    "tolerations": [GPU_TOLERATION],
                    "containers": [
                        {
                            "name": "nvidia-device-plugin",
                            "image": pins["images"]["nvidia_device_plugin"],
                            "command": ["nvidia-device-plugin"],
                            "env": [
                                {"name": "MIG_STRATEGY", "value": cfg.mig_strategy},
                                {"name": "FAIL_ON_INIT_ERROR", "value": "true"},
                                {"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "compute,utility"},
                            ],
                            "securityContext": RESTRICTED_CONTAINER,
                            "resources": resources("50m", "64Mi", "256Mi"),
                            "volumeMounts": [
                                {"name": "device-plugins", "mountPath": "/var/lib/kubelet/device-plugins"}
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "device-plugins",
                            "hostPath": {"path": "/var/lib/kubelet/device-plugins", "type": "Directory"},
                        }
                    ],
                },
            },
        }

    @staticmethod
    def _dcgm_spec(cfg: StackConfig, pins: dict) -> dict:
        return {
            "selector": {"matchLabels": selector("dcgm-exporter")},
            "template": {
                "metadata": {"labels": selector("dcgm-exporter")},
                "spec": {
                    "runtimeClassName": "nvidia",
                    "affinity": gpu_node_affinity(cfg),
                    "tolerations": [GPU_TOLERATION],
                    "containers": [
                        {
                            "name": "dcgm-exporter",
                            "image": pins["images"]["dcgm_exporter"],
                            "env": [
                                {"name": "DCGM_EXPORTER_KUBERNETES", "value": "true"},
                                {"name": "DCGM_EXPORTER_LISTEN", "value": ":9400"},
                            ],
                            "ports": [{"name": "metrics", "containerPort": 9400}],
                            "readinessProbe": http_probe("/health", 9400),
                            "livenessProbe": http_probe("/health", 9400, period=20),
                            "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}},
                            "resources": resources("100m", "256Mi", "512Mi"),
                            "volumeMounts": [
                                {
                                    "name": "pod-resources",
                                    "mountPath": "/var/lib/kubelet/pod-resources",
                                    "readOnly": True,
                                }
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "pod-resources",
                            "hostPath": {"path": "/var/lib/kubelet/pod-resources", "type": "Directory"},
                        }
                    ],
                },
            },
        }
