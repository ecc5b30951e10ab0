"""A private certificate authority for traffic between a local server's own parts.

SeaweedFS's master, volume server and filer answer anyone who can reach their ports; with mutual TLS
among them only the holder of this key (0600, in the private state directory) gets through, so the S3
keys cannot be bypassed by another local user.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=3650)


@dataclass(frozen=True)
class TlsFiles:
    """Where a CA certificate and one certificate + key it signed live (a pure value)."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def cert(self) -> Path:
        return self.folder / "tls.crt"

    @property
    def key(self) -> Path:
        return self.folder / "tls.key"

    def exist(self) -> bool:
        return all(path.is_file() for path in (self.ca, self.cert, self.key))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def ensure_tls(files: TlsFiles, common_name: str) -> TlsFiles:
    """Create a CA and one loopback certificate usable as server and client, once; files 0600.
    The CA's key is not kept: nothing else is ever signed with it."""
    if files.exist():
        return files
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{common_name} CA"))
        .issuer_name(_name(f"{common_name} CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    for path, content in (
        (files.key, _pem_key(key)),
        (files.cert, cert.public_bytes(serialization.Encoding.PEM)),
        (files.ca, ca.public_bytes(serialization.Encoding.PEM)),
    ):
        path.touch(mode=0o600)
        path.write_bytes(content)
    return files
