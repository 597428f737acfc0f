"""Certificates for the in-cluster etcd (etcdMode in-cluster): a CA, one server/peer certificate whose SANs
cover every member's stable DNS name and the client Service, and a client certificate for the job service.
The etcd component runs this once, as a local command at create time; Pulumi keeps its output (secret) in
the stack's state, so later runs reuse the same certificates. Usage:
python -m infra.etcd_certs NAMESPACE SERVICE MEMBERS"""

from __future__ import annotations

import datetime
import ipaddress
import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 3650  # the certificates live in the stack's state; rotate with `pulumi up --replace <command>`


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _builder(subject: str, issuer: x509.Name, public_key, now: datetime.datetime) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
    )


def member_dns_names(namespace: str, service: str, members: int) -> list[str]:
    names = []
    for i in range(members):
        names += [
            f"{service}-{i}.{service}.{namespace}.svc",
            f"{service}-{i}.{service}.{namespace}.svc.cluster.local",
        ]
    return names


def generate(namespace: str, service: str, members: int) -> dict[str, str]:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{service}.{namespace} etcd CA")])
    ca = (
        _builder(f"{service}.{namespace} etcd CA", ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    sans = [
        *member_dns_names(namespace, service, members),
        f"{service}-client.{namespace}.svc",
        f"{service}-client.{namespace}.svc.cluster.local",
        "localhost",
    ]
    server_key = _key()
    server = (
        _builder(f"{service}.{namespace}", ca.subject, server_key.public_key(), now)
        .add_extension(
            x509.SubjectAlternativeName(
                [*(x509.DNSName(n) for n in sans), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    client_key = _key()
    client = (
        _builder("job-service", ca.subject, client_key.public_key(), now)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return {
        "ca.crt": _pem(ca),
        "server.crt": _pem(server),
        "server.key": _pem_key(server_key),
        "client.crt": _pem(client),
        "client.key": _pem_key(client_key),
    }


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    print(json.dumps(generate(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
