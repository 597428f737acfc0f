"""A throwaway single-member etcd with its own CA and mutual TLS, for tests, benchmarks and local development.

It is configured like a member of the platform's cluster where it matters to a client: client URL over
https with `--client-cert-auth`, a server certificate valid for 127.0.0.1 and `localhost` that also carries
`clientAuth` (etcd 3.4's gRPC gateway dials the member with it), a client certificate from the same CA, and
etcd's default limits (`--max-txn-ops` 128). It listens on 127.0.0.1 only, on ports picked free at start.
"""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import subprocess
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from platform_services.store.base import StoreUnavailable
from platform_services.store.etcd import EtcdClientConfig, EtcdStore
from platform_services.testing.processes import stop_process

ETCD_BINARY = "/usr/bin/etcd"  # Debian's etcd-server (3.4)


def etcd_binary() -> str | None:
    """The etcd to run: Debian's, else the first on PATH; None when there is none."""
    return ETCD_BINARY if Path(ETCD_BINARY).exists() else shutil.which("etcd")


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    usages: list[x509.ObjectIdentifier] | None = None,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(directory: Path, name: str = "cloudml-test") -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, as PEM files."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue(f"{name}-ca", ca_key, None, ca_key)
    files = {"ca": directory / "ca.crt"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for role, usages, sans in (
        (
            "server",
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")],
        ),
        ("client", [ExtendedKeyUsageOID.CLIENT_AUTH], None),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(f"{name}-{role}", key, ca, ca_key, usages=usages, sans=sans)
        files[f"{role}_cert"] = directory / f"{role}.crt"
        files[f"{role}_key"] = directory / f"{role}.key"
        files[f"{role}_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(files[f"{role}_key"], key)
    return files


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalEtcd:
    """`with LocalEtcd(tmp_dir) as etcd: EtcdStore(etcd.client_config)`; stopped (and reaped) on exit."""

    def __init__(self, directory: Path, binary: str | None = None, start_timeout_s: float = 30.0):
        self.directory = Path(directory)
        self.binary = binary or etcd_binary()
        if self.binary is None:
            raise FileNotFoundError(f"no etcd binary ({ETCD_BINARY}; apt-get install etcd-server)")
        self.start_timeout_s = start_timeout_s
        self.pki = make_pki(self.directory / "pki")
        self.log = self.directory / "etcd.log"
        self.proc: subprocess.Popen | None = None
        self.url = ""

    @property
    def client_config(self) -> EtcdClientConfig:
        return EtcdClientConfig((self.url,), self.pki["ca"], self.pki["client_cert"], self.pki["client_key"])

    def start(self) -> LocalEtcd:
        # A port picked free may be taken before etcd binds it (other tests run beside us): try again.
        for _ in range(3):
            if self._start_once():
                return self
        raise RuntimeError(f"etcd did not start:\n{self.log.read_text()[-3000:]}")

    def _start_once(self) -> bool:
        client, peer = _free_port(), _free_port()
        self.url = f"https://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"  # one member: the peer port is never dialled
        data_dir = self.directory / "data"
        shutil.rmtree(data_dir, ignore_errors=True)
        args = [
            self.binary,
            "--name=local",
            f"--data-dir={data_dir}",
            f"--listen-client-urls={self.url}",
            f"--advertise-client-urls={self.url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=local={peer_url}",
            "--initial-cluster-state=new",
            "--client-cert-auth",
            f"--trusted-ca-file={self.pki['ca']}",
            f"--cert-file={self.pki['server_cert']}",
            f"--key-file={self.pki['server_key']}",
            "--logger=zap",
            "--log-outputs=stderr",
        ]
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        probe = EtcdStore(self.client_config, timeout_s=2.0)
        try:
            deadline = time.monotonic() + self.start_timeout_s
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    return False
                try:
                    probe.ping()
                    return True
                except StoreUnavailable:
                    time.sleep(0.05)
            self.stop()
            return False
        finally:
            probe.close()

    def stop(self) -> None:
        stop_process(self.proc)

    def __enter__(self) -> LocalEtcd:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
