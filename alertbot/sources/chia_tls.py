"""TLS for the Chia watcher: client contexts from a Chia `ssl_dir`, with clear errors.

Chia uses mutual TLS under a private CA (protocols/chia.md §1): we present a private
certificate (`daemon/private_daemon.crt|key` for the daemon WebSocket,
`full_node/private_full_node.crt|key` for the full node RPC) and verify the server
against `ca/private_ca.crt`. The server certificate names `chia.net`, so the hostname
check is off — verification stays on (never CERT_NONE). Every problem becomes a
`SourceError(kind="tls")` that names the file: missing, unreadable (permissions: the
key files are mode 0600), not a certificate, key not matching, or a certificate that
our CA did not sign (certificates from another CA would be refused by the daemon with
nothing clearer than a dropped connection). Contexts are rebuilt on every attempt, so
certificates that appear while the node starts are picked up on the next retry.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

from ..errors import SourceError

CA_CERT = ("ca", "private_ca.crt")


def cert_paths(ssl_dir: str, service: str) -> tuple[Path, Path, Path]:
    """(CA cert, client cert, client key) of `service` inside a Chia ssl folder."""
    base = Path(os.path.expanduser(ssl_dir))
    return (base.joinpath(*CA_CERT), base / service / f"private_{service}.crt",
            base / service / f"private_{service}.key")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"Chia certificate file {path} does not exist (check ssl_dir; "
                          "the node creates it on first start)", kind="tls") from None
    except PermissionError:
        raise SourceError(f"cannot read Chia certificate file {path}: permission denied "
                          "(run alertbot as the chia user or grant it read access)",
                          kind="tls") from None
    except OSError as exc:
        raise SourceError(f"cannot read Chia certificate file {path}: {exc.strerror or exc}",
                          kind="tls") from None


def check_signed_by(ca_pem: bytes, cert_pem: bytes, ca: Path, cert: Path) -> None:
    """Raise SourceError unless `cert` is a certificate directly issued by `ca`."""
    from cryptography import x509  # lazy: only a running watcher needs it
    from cryptography.exceptions import InvalidSignature

    try:
        ca_cert = x509.load_pem_x509_certificate(ca_pem)
    except ValueError:
        raise SourceError(f"{ca} is not a PEM certificate", kind="tls") from None
    try:
        own = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise SourceError(f"{cert} is not a PEM certificate", kind="tls") from None
    try:
        own.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        raise SourceError(f"{cert} was not issued by {ca} (certificates from another CA?)",
                          kind="tls") from None


def client_context(ssl_dir: str, service: str = "daemon") -> ssl.SSLContext:
    """A verifying client context for `service`'s certificate pair; SourceError on trouble."""
    ca, cert, key = cert_paths(ssl_dir, service)
    ca_pem, cert_pem = _read(ca), _read(cert)
    _read(key)   # name an unreadable key here rather than as an opaque SSL error
    check_signed_by(ca_pem, cert_pem, ca, cert)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False          # the certificate names chia.net, not our host
    ctx.verify_mode = ssl.CERT_REQUIRED
    try:
        ctx.load_verify_locations(cadata=ca_pem.decode("ascii", "replace"))
    except ssl.SSLError as exc:
        raise SourceError(f"{ca} is not a usable CA certificate: {exc}", kind="tls") from None
    try:
        ctx.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise SourceError(f"{key} does not fit {cert}: {exc}", kind="tls") from None
    return ctx


def server_context(ssl_dir: str, service: str = "daemon") -> ssl.SSLContext:
    """The daemon's side (simulator): present `service`'s pair, require a CA-signed client."""
    ca, cert, key = cert_paths(ssl_dir, service)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(ca)
    ctx.load_cert_chain(cert, key)
    return ctx
