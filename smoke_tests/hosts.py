"""testinfra hosts behind the Ansible backend, with two additions the suite relies on.

- Unreachable is not a check result: any command that the SSH transport could not deliver (ssh exits 255)
  raises HostUnreachable, which the report turns into status `unreachable` and exit code 2, so no check can
  pass or fail on a host that was never asked.
- SSH connection sharing: testinfra only multiplexes when ansible.cfg names a control_path, so every command
  would pay a full SSH handshake (about 0.2 s in the lab). The pool gives each host a ControlPath in a
  private directory and closes the masters when the run ends.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import testinfra
from testinfra.backend.base import CommandResult
from testinfra.backend.ssh import SshBackend
from testinfra.host import Host
from testinfra.utils.ansible_runner import AnsibleRunner

from smoke_tests.inventory import Inventory


class HostUnreachable(Exception):
    """The host could not be reached, so nothing about it is known."""

    def __init__(self, host: str, reason: str):
        super().__init__(f"{host} unreachable: {reason}")
        self.host = host
        self.reason = reason


class HostPool:
    """One testinfra host per inventory host, created on first use and probed once."""

    def __init__(self, inventory: Inventory):
        self.inventory = inventory
        runner = AnsibleRunner.get_runner(inventory.path)
        # Reuse the inventory already read instead of running ansible-inventory again in every worker:
        # AnsibleRunner.inventory is a functools.cached_property, which keeps its value in the instance dict.
        runner.__dict__.setdefault("inventory", inventory.data)
        self._runner = runner
        self._hosts: dict[str, Host] = {}
        self._unreachable: dict[str, HostUnreachable] = {}
        self._control_dir: str | None = tempfile.mkdtemp(prefix="smoke-ssh-")
        self._masters: list[SshBackend] = []

    def connect(self, names: list[str], parallel: int = 16) -> None:
        """Open (and probe) the connections to `names` concurrently, so that SSH handshakes and the
        timeouts of unreachable hosts overlap; the checks then reuse the shared connections."""

        def attempt(name: str) -> None:
            with contextlib.suppress(HostUnreachable):  # remembered: every check of that host reports it
                self.get(name)

        with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(names)))) as pool:
            list(pool.map(attempt, names))

    def get(self, name: str) -> Host:
        """The host, reachable; raises HostUnreachable (remembered for the rest of the run) otherwise."""
        if name in self._unreachable:
            raise self._unreachable[name]
        if name not in self._hosts:
            host = testinfra.get_host(f"ansible://{name}", ansible_inventory=self.inventory.path)
            self._share_connection(name)
            _raise_when_unreachable(host, name)
            try:
                host.run("true")
            except HostUnreachable as exc:
                self._unreachable[name] = exc
                raise
            self._hosts[name] = host
        return self._hosts[name]

    def close(self) -> None:
        """Stop the SSH masters this pool started and remove their sockets."""
        for backend in self._masters:
            spec = backend.host
            command = ["ssh", "-o", f"ControlPath={self._control_dir}/%C", "-O", "exit"]
            command += ["-l", spec.user] if spec.user else []
            command += ["-p", str(spec.port)] if spec.port else []
            subprocess.run([*command, spec.name], capture_output=True, timeout=15, check=False)
        self._masters.clear()
        if self._control_dir:
            shutil.rmtree(self._control_dir, ignore_errors=True)
            self._control_dir = None

    def _share_connection(self, name: str) -> None:
        inner = self._runner.get_host(name)
        backend = inner.backend if inner is not None else None
        if not isinstance(backend, SshBackend) or backend.controlpath:
            return
        # %C: a hash of local host, remote host, port and user (short enough for a socket path).
        # testinfra formats the command with %, hence the doubled %.
        backend.controlpath = f"{self._control_dir}/%%C"
        self._masters.append(backend)


def _raise_when_unreachable(host: Host, name: str) -> None:
    """Make every command on `host` raise HostUnreachable when the transport fails.

    testinfra's SSH backend raises RuntimeError(CommandResult) when ssh exits 255, ssh's own error status.
    (A remote command that itself exits 255 is reported as unreachable too; checks avoid relying on that.)
    """
    run = host.backend.run

    def checked_run(command: str, *args: str, **kwargs: Any) -> CommandResult:
        try:
            return run(command, *args, **kwargs)
        except RuntimeError as exc:
            result = exc.args[0] if exc.args else None
            if isinstance(result, CommandResult) and result.rc == 255:
                reason = (result.stderr.strip().splitlines() or ["ssh exited 255"])[-1]
                raise HostUnreachable(name, reason) from None
            raise

    host.backend.run = checked_run  # type: ignore[method-assign]
