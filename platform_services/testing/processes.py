"""Stopping a child process the same way everywhere: SIGTERM, a grace period, then SIGKILL; always reaped."""

import subprocess


def stop_process(proc: subprocess.Popen | None, grace_s: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
