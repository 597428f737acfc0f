"""The seed's linear regression example: learn y = 2x + 10 by gradient descent, single or distributed.

Pure Python (no framework) so that it runs anywhere; it reads TF_CONFIG like a CloudML trainer: the master
trains and reports, parameter servers and workers announce themselves and (workers) train a shard.
Run: python -m trainer.task --steps 2000 --learning-rate 0.01
"""

import argparse
import json
import os
import random
import socket
import sys
import time


def train(steps: int, learning_rate: float, seed: int) -> tuple[float, float, float]:
    rng = random.Random(seed)
    data = [(x, 2 * x + 10 + rng.gauss(0, 0.1)) for x in (rng.uniform(-1, 1) for _ in range(100))]
    w, b = 0.0, 0.0
    for _ in range(steps):
        gw = sum(2 * (w * x + b - y) * x for x, y in data) / len(data)
        gb = sum(2 * (w * x + b - y) for x, y in data) / len(data)
        w, b = w - learning_rate * gw, b - learning_rate * gb
    loss = sum((w * x + b - y) ** 2 for x, y in data) / len(data)
    return w, b, loss


def report(tag: str, value: float, step: int) -> None:
    """The cloudml-hypertune format: one JSON line per metric in $CLOUD_ML_HP_METRIC_FILE."""
    path = os.environ.get("CLOUD_ML_HP_METRIC_FILE")
    if path:
        with open(path, "a") as f:
            f.write(
                json.dumps({"timestamp": time.time(), "trial": "0", tag: value, "global_step": step}) + "\n"
            )


def _split(address: str) -> tuple[str, int]:
    host, port = address.rsplit(":", 1)
    return host, int(port)


def gather_peers(address: str, count: int, timeout: float) -> None:
    """The master trains only once every other replica has checked in, as a TF master session waits for
    its cluster; a replica that never shows up fails the job instead of hanging it."""
    server = socket.create_server(_split(address))
    server.settimeout(timeout)
    with server:
        for _ in range(count):
            try:
                conn, _peer = server.accept()
            except TimeoutError:
                raise SystemExit(f"not every replica checked in within {timeout:.0f} s") from None
            conn.close()


def check_in(master: str, timeout: float) -> None:
    """Tell the master this replica is up (retrying while the master is still starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(_split(master), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"master {master} unreachable for {timeout:.0f} s") from None
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--ps-wait", type=float, default=60.0, help="seconds a parameter server stays up")
    parser.add_argument("--fail", action="store_true", help="exit 3 (to exercise failure handling)")
    parser.add_argument("--peer-timeout", type=float, default=60.0, help="seconds the master waits for peers")
    args = parser.parse_args(argv)
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = tf_config.get("task", {"type": "master", "index": 0})
    print("TF_CONFIG " + json.dumps({"cluster": tf_config.get("cluster", {}), "task": task}), flush=True)
    if args.fail:
        print("failing on request", flush=True)
        return 3
    cluster = tf_config.get("cluster", {})
    leader_kind = "chief" if "chief" in cluster else "master"
    peers = sum(len(addrs) for kind, addrs in cluster.items() if kind != leader_kind)
    if cluster.get(leader_kind) and peers:
        if task["type"] == leader_kind:
            gather_peers(cluster[leader_kind][0], peers, args.peer_timeout)
        else:
            check_in(cluster[leader_kind][0], args.peer_timeout)
    if task["type"] == "ps":
        time.sleep(args.ps_wait)  # a real PS serves until the job ends; the platform stops it
        return 0
    w, b, loss = train(args.steps, args.learning_rate, seed=task["index"])
    print(f"{task['type']}-{task['index']}: w={w:.3f} b={b:.3f} loss={loss:.5f}", flush=True)
    if task["type"] in ("master", "chief"):
        report("training/hptuning/metric", loss, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
