"""Throw-away Chia-style certificates: a private CA and service pairs in a Chia `ssl_dir`.

The Chia simulator and the tests need what `chia init` writes (protocols/chia.md §1):
`ca/private_ca.crt|key` and, per service, `<svc>/private_<svc>.crt|key` issued by that
CA, with the server certificate naming `chia.net` (so clients must turn the hostname
check off but still verify the chain). Keys are EC P-256 for speed; key files get mode
0600 as Chia's do. Nothing here is used by a running watcher.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Chia"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = path.with_suffix(".key")
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)


def _cert(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
          signer: ec.EllipticCurvePrivateKey, *, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=1))
               .not_valid_after(now + dt.timedelta(days=3650))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("chia.net")]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def make_ssl_dir(ssl_dir: Path, services: Iterable[str] = ("daemon", "full_node"), *,
                 ca_name: str = "Chia CA") -> Path:
    """Write a private CA and a CA-issued pair for each service under `ssl_dir`."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_subject = _name(ca_name)
    ca_cert = _cert(ca_subject, ca_subject, ca_key, ca_key, ca=True)
    _write(ssl_dir / "ca" / "private_ca.crt", ca_cert, ca_key)
    for service in services:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(_name("Chia"), ca_subject, key, ca_key, ca=False)
        _write(ssl_dir / service / f"private_{service}.crt", cert, key)
    return ssl_dir
