"""The replicas of a job and the environment each gets: TF_CONFIG in Google CloudML's format, or the
PyTorch rendezvous variables. Ref: https://cloud.google.com/ai-platform/training/docs/distributed-training-details
"""

import json
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class Replica:
    type: str  # master|chief, ps, worker
    index: int
    port: int

    @property
    def name(self) -> str:
        return f"{self.type}-{self.index}"


def free_ports(count: int) -> list[int]:
    """Ports the kernel hands out now on 127.0.0.1 (held together so that they are distinct)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def plan(spec: dict) -> list[Replica]:
    master = spec.get("tf_chief_name", "master")
    kinds = [(master, 0)] + [("ps", i) for i in range(spec["ps_count"])]
    kinds += [("worker", i) for i in range(spec["worker_count"])]
    ports = free_ports(len(kinds))
    return [Replica(t, i, p) for (t, i), p in zip(kinds, ports, strict=True)]


def environment(spec: dict, replicas: list[Replica], me: Replica) -> dict[str, str]:
    if spec["framework"] == "pytorch":
        master = replicas[0]
        rank = 0 if me is master else 1 + me.index
        return {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(master.port),
            "WORLD_SIZE": str(len(replicas)),
            "RANK": str(rank),
        }
    cluster: dict[str, list[str]] = {}
    for r in replicas:
        cluster.setdefault(r.type, []).append(f"127.0.0.1:{r.port}")
    tf_config = {
        "cluster": cluster,
        "task": {"type": me.type, "index": me.index},
        "job": spec,
        "environment": "cloud",
    }
    return {"TF_CONFIG": json.dumps(tf_config)}
