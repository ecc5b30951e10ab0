"""The sim cluster's PKI: a CA, serving certificates, client certificates and the service-account key.

Pure functions returning PEM bytes (`cryptography`); the runtime writes them with mode 0600 under
.cnai/sim/pki once and reuses them, so a kubeconfig stays valid across `down`/`up`.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)
SERVICE_CIDR = "10.96.0.0/16"  # the apiserver's --service-cluster-ip-range; its first IP is `kubernetes`


@dataclass(frozen=True)
class KeyPair:
    cert: bytes  # PEM
    key: bytes  # PEM (PKCS#8, unencrypted)


@dataclass(frozen=True)
class Identity:
    """A client identity: the API server maps CN to the user name and O to its groups."""

    name: str  # file stem under pki/
    user: str
    groups: tuple[str, ...] = ()


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common: str, groups: tuple[str, ...] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)  # tolerate clock skew


def certificate_authority(
    common_name: str = "cnai-sim-ca",
    organization: tuple[str, ...] = (),
    dns: tuple[str, ...] = (),
    rsa_pkcs1: bool = False,
) -> KeyPair:
    """A self-signed CA. rsa_pkcs1: an RSA key in PKCS#1 PEM, for readers that accept nothing else."""
    key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048) if rsa_pkcs1 else _key()
    name = _name(common_name, organization)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + 10 * VALIDITY)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    if rsa_pkcs1:
        pkcs1 = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        return KeyPair(cert.public_bytes(serialization.Encoding.PEM), pkcs1)
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key))


def _issue(
    ca: KeyPair,
    subject: x509.Name,
    usage: ExtendedKeyUsageOID,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
) -> KeyPair:
    ca_cert = x509.load_pem_x509_certificate(ca.cert)
    ca_key: Any = serialization.load_pem_private_key(ca.key, password=None)
    key = _key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now())
        .not_valid_after(_now() + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                key_cert_sign=False,
                crl_sign=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if dns or ips:
        names = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key))


def serving_certificate(ca: KeyPair, common_name: str, dns: tuple[str, ...], ips: tuple[str, ...]) -> KeyPair:
    return _issue(ca, _name(common_name), ExtendedKeyUsageOID.SERVER_AUTH, dns, ips)


def client_certificate(ca: KeyPair, identity: Identity) -> KeyPair:
    return _issue(ca, _name(identity.user, identity.groups), ExtendedKeyUsageOID.CLIENT_AUTH)


def service_account_key() -> KeyPair:
    """The key pair the API server signs service-account tokens with (cert: the public key, PEM)."""
    key = _key()
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return KeyPair(public, _pem_key(key))


def apiserver_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """DNS names and IPs the API server's certificate covers (loopback and the in-cluster service)."""
    service_ip = str(next(ipaddress.ip_network(SERVICE_CIDR).hosts()))
    dns = (
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    )
    return dns, ("127.0.0.1", service_ip)


# Kueue's own certificate management (open-policy-agent/cert-controller) keeps a CA and serving
# certificate it finds valid in its Secret: the CA must verify for the DNS name "kueue-ca", the serving
# certificate for "<webhook service>.<namespace>.svc". The sim's adds 127.0.0.1, the address its webhook
# configurations use. A CA of its own: its key lives in a Secret, so it must not be the cluster CA.
# It parses the CA key as PKCS#1 RSA only.
KUEUE_CA = {"common_name": "kueue-ca", "organization": ("kueue",), "dns": ("kueue-ca",), "rsa_pkcs1": True}


def kueue_webhook_names(service: str, namespace: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (f"{service}.{namespace}.svc",), ("127.0.0.1",)


def loopback_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Names of a serving certificate reached only on loopback (webhooks, etcd)."""
    return ("localhost",), ("127.0.0.1",)
