"""TLS certificates issued by a member key, and the trust anchors that pin them.

Each node is its own certificate authority, with its Ed25519 member key as the CA key: at
start it makes an ECDSA P-256 TLS key and a certificate for it that the member key signs
(issuer: ``anchor_name`` of that key). grpc's TLS (BoringSSL) verifies Ed25519 signatures on
certificates but offers no Ed25519 signature scheme in the handshake itself (tried: a server
certificate with an Ed25519 key fails with NO_COMMON_SIGNATURE_ALGORITHMS), hence the P-256
TLS key that the member key certifies.

A client pins a node by the member key the ledger names for it: it makes, locally, a trust
anchor for that key (``anchor_pem``) and gives grpc that anchor as the only root. A trust
anchor is a name and a public key (RFC 5280, 6.1.1 (d)); verifiers do not check an anchor's
own signature, so the anchor is signed by a fixed throwaway key and nobody needs the member's
private key to make it. The handshake then succeeds only with a server that holds a TLS key
certified by that member key. No certificate has to be fetched or distributed, and no CA run.

Client certificates (for nodes that require them) are made the same way with the client's
member key; such a node's roots are the anchors of its ledger's member keys. A server
certificate carries the serverAuth extended key usage and a client certificate clientAuth,
so one cannot stand in for the other. Besides ``TLS_NAME`` (the name clients check, since
the key is what they pin), a server certificate names the member (``member_dns_name``) and
the hosts it is reached at; its subject is the member id, and the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import hashlib
import ipaddress
import re
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ._crypto import verify
from ._errors import TlsError, Unavailable
from ._identity import Identity

#: The host name every tdx server certificate holds and clients check (``.invalid`` is
#: reserved: no real host has it). What a client pins is the key, not a name.
TLS_NAME = "node.tdx.invalid"
CERTIFICATE_LIFETIME = datetime.timedelta(days=30)
#: Clocks disagree: a certificate is valid from a little before it was made.
BACKDATE = datetime.timedelta(hours=1)
_ANCHOR_ORG = "tdx member key"
_DNS_LABEL = re.compile(r"[^a-z0-9-]+")
_FOREVER = (datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
            datetime.datetime(9999, 12, 31, tzinfo=datetime.UTC))


@dataclass(frozen=True)
class TlsCertificate:
    """A TLS key (PEM, private: kept in memory, never written) and its certificate chain
    (PEM: the certificate, then the member key's self-signed root), issued by
    ``member_key`` and valid until ``not_after``."""

    chain_pem: bytes
    key_pem: bytes
    member_key: bytes
    not_after: datetime.datetime


def anchor_name(public_key: bytes) -> x509.Name:
    """The name of a member key as a certificate authority: its hex, and ``tdx member key``."""
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ANCHOR_ORG),
                      x509.NameAttribute(NameOID.COMMON_NAME, public_key.hex())])


def member_dns_name(member_id: str) -> str:
    """The DNS name that names ``member_id`` in its certificates: ``<label>.member.tdx.invalid``
    (the id in lower case, anything but letters, digits and '-' turned into '-')."""
    label = _DNS_LABEL.sub("-", member_id.lower()).strip("-")[:63] or "member"
    return f"{label}.member.tdx.invalid"


def _ed25519(public_key: bytes) -> ed25519.Ed25519PublicKey:
    try:
        return ed25519.Ed25519PublicKey.from_public_bytes(public_key)
    except ValueError:
        raise TlsError(f"{public_key.hex()[:16]}... is not an Ed25519 public key") from None


def _ca_certificate(public_key: bytes, signer: ed25519.Ed25519PrivateKey) -> x509.Certificate:
    name = anchor_name(public_key)
    return (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(_ed25519(public_key))
            .serial_number(int.from_bytes(public_key[:16], "big") or 1)
            .not_valid_before(_FOREVER[0]).not_valid_after(_FOREVER[1])
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(signer, None))


@functools.cache
def _throwaway_signer() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(b"tdx.v1.tls-anchor").digest())


@functools.lru_cache(maxsize=1024)
def anchor_pem(public_key: bytes) -> bytes:
    """A trust anchor (PEM) for a member key: the root that pins a node to that key.

    Made locally from the public key alone (see the module docstring); the same key always
    gives the same bytes.
    """
    certificate = _ca_certificate(bytes(public_key), _throwaway_signer())
    return certificate.public_bytes(serialization.Encoding.PEM)


def _host_names(member_id: str, hosts: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(TLS_NAME),
                                     x509.DNSName(member_dns_name(member_id))]
    for host in hosts:
        host = host.strip("[]")
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", host):
                continue
            name: x509.GeneralName = x509.DNSName(host.lower())
        else:
            if address.is_unspecified:
                continue  # 0.0.0.0 or :: is where a node listens, not a name for it
            name = x509.IPAddress(address)
        if name not in names:
            names.append(name)
    return names


def make_certificate(identity: Identity, *, hosts: Iterable[str] = (), network: str = "",
                     client: bool = False, lifetime: datetime.timedelta = CERTIFICATE_LIFETIME,
                     now: datetime.datetime | None = None) -> TlsCertificate:
    """A fresh P-256 TLS key and its certificate, issued by ``identity``'s member key.

    A server certificate names ``TLS_NAME``, the member and ``hosts`` (IP addresses or DNS
    names it is reached at; 0.0.0.0 and malformed names are left out); a client certificate
    (``client=True``) names no host.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    not_after = (now + lifetime).replace(microsecond=0)
    member_key = ed25519.Ed25519PrivateKey.from_private_bytes(identity.seed)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, identity.member_id)]
    if network:
        subject.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, network[:64]))
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(subject)).issuer_name(anchor_name(identity.public_key))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False)
    )
    if not client:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(_host_names(identity.member_id, hosts)), critical=False)
    certificate = builder.sign(member_key, None)
    root = _ca_certificate(identity.public_key, member_key)
    return TlsCertificate(
        chain_pem=(certificate.public_bytes(serialization.Encoding.PEM)
                   + root.public_bytes(serialization.Encoding.PEM)),
        key_pem=key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()),
        member_key=identity.public_key, not_after=not_after)


def load_certificate(data: bytes) -> x509.Certificate:
    """The first certificate in PEM or DER bytes; TlsError when there is none."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise TlsError(f"not an X.509 certificate: {exc}") from None


def issuing_key(certificate: x509.Certificate) -> bytes:
    """The member key that issued a tdx certificate, checked by its signature.

    TlsError when the issuer is not a member key or its signature does not verify.
    """
    names = certificate.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        public_key = bytes.fromhex(str(names[0].value)) if names else b""
    except ValueError:
        public_key = b""
    if len(public_key) != 32:
        raise TlsError(f"the certificate is not issued by a tdx member key (its issuer is "
                       f"{certificate.issuer.rfc4514_string()!r})")
    if not verify(public_key, b"", certificate.tbs_certificate_bytes, certificate.signature):
        raise TlsError(f"the certificate's signature by key {public_key.hex()[:16]}... does "
                       "not verify")
    return public_key


def certificate_member(certificate: x509.Certificate) -> str:
    """The member id a certificate's subject names (what it claims; the key is what counts)."""
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def split_target(target: str) -> tuple[str, int]:
    """(host, port) of ``HOST:PORT`` (``[::1]:7400`` for IPv6); ValueError if malformed."""
    host, sep, port = target.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"node address {target!r} must be HOST:PORT")
    return host, int(port)


def _reading_context() -> ssl.SSLContext:
    # Only to read what a node presents, to say why a pinned connection failed: nothing
    # read this way is trusted.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    return context


def _read_failed(target: str, exc: BaseException) -> Exception:
    if isinstance(exc, ssl.SSLError):
        return TlsError(f"{target} did not complete a TLS handshake ({exc.reason or exc}); "
                        "a node on a loopback address serves plaintext unless it was set up "
                        "with TLS on")
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return Unavailable(f"cannot reach {target} to read its TLS certificate: {reason}")


def read_certificate(target: str, timeout: float = 5.0) -> x509.Certificate:
    """The certificate the node at ``target`` presents, unverified (for messages and
    inspection; a connection is pinned by ``anchor_pem``, never by this)."""
    host, port = split_target(target)
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, \
                _reading_context().wrap_socket(raw, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        raise _read_failed(target, exc) from None
    if not der:
        raise TlsError(f"{target} presented no certificate")
    return load_certificate(der)


async def read_certificate_async(target: str, timeout: float = 5.0) -> x509.Certificate:
    """``read_certificate`` without blocking the event loop."""
    host, port = split_target(target)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=_reading_context(), server_hostname=host),
            timeout)
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        raise _read_failed(target, exc) from None
    try:
        tls = writer.get_extra_info("ssl_object")
        der = tls.getpeercert(binary_form=True) if tls is not None else None
    finally:
        # No TLS goodbye: a gRPC server does not answer one, and nothing was sent.
        writer.transport.abort()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    if not der:
        raise TlsError(f"{target} presented no certificate")
    return load_certificate(bytes(der))
