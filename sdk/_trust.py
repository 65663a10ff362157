"""Which member key a node must prove at an address, and channels that check it.

Pinning by the ledger: a node's TLS certificate is endorsed by its member key (``_tls``), and
a client accepts it only when that key is the one the members it trusts (a genesis, or the
ledger's member records) name for the address it dials. There is no CA to run. The rules,
the same for the SDK's clients, the CLI and a node's own connections:

- ``server_key`` pins one key: TLS, and only a certificate that key endorses.
- A :class:`Trust` (else the process default, ``set_default_trust``) pins a target to the
  keys of the members whose API or peer address it is, or to one named member's key.
- A loopback target (127.0.0.0/8, ::1, ``localhost``) is plaintext unless a key or member
  is pinned or the trust says ``tls_on_loopback`` (a network set up with TLS on). Every other
  target is TLS and must be pinned: nothing else goes in plaintext.
- ``insecure=True`` is plaintext, allowed only for loopback, with an ``InsecureWarning``.

A trust that reads the members on each use (a node's ledger) follows key rotation: when a
pinned handshake fails, the clients here ask the trust again and, if it names other keys by
then (governance recorded a rotation), open a new channel pinned to those.
"""

from __future__ import annotations

import ipaddress
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from cryptography import x509
from tdx.v1 import documents_pb2, ledger_pb2

from ._errors import TdxError, TlsError
from ._genesis import load_genesis
from ._identity import Identity
from ._tls import (
    TLS_NAME,
    anchor_pem,
    certificate_member,
    issuing_key,
    make_certificate,
    read_certificate,
    read_certificate_async,
    split_target,
)

Members = Callable[[], Iterable[documents_pb2.MemberRecord]]
Options = Sequence[tuple[str, Any]]


class InsecureWarning(UserWarning):
    """A client talks plaintext to a node because it was asked to (``insecure=True``)."""


def is_loopback(target: str) -> bool:
    """Whether ``HOST:PORT`` names this host's loopback interface."""
    host, _ = split_target(target)
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServerPin:
    """The member keys one of which a server's certificate must be endorsed by.

    ``who`` names them in messages; ``identity``, when set, is presented in a client
    certificate (for nodes that require one).
    """

    keys: frozenset[bytes]
    who: str
    identity: Identity | None = None


def _who(records: Iterable[documents_pb2.MemberRecord]) -> str:
    return " or ".join(f"member {m.id} (key {bytes(m.public_key).hex()[:16]}...)"
                       for m in records)


@dataclass(frozen=True)
class Trust:
    """The members a client trusts, and how it pins the nodes it dials by them.

    ``members`` returns the member records to pin by, read on each use (so a node's own
    trust follows its ledger); ``member`` pins every target to that one member's key;
    ``keys`` pins every target to these keys; ``aliases`` maps addresses that are not in
    the records (a port published on this host) to the member id served there.
    ``tls_on_loopback`` uses TLS for loopback targets too, and ``identity`` is the member a
    client certificate is made for.
    """

    members: Members = field(default=lambda: ())
    member: str = ""
    keys: frozenset[bytes] = frozenset()
    aliases: Mapping[str, str] = field(default_factory=dict)
    tls_on_loopback: bool = False
    identity: Identity | None = None

    @classmethod
    def from_members(cls, members: Iterable[documents_pb2.MemberRecord] | Members,
                     **options: Any) -> Trust:
        """A trust in ``members``: a list (kept as given) or a function read on each use."""
        if callable(members):
            return cls(members=members, **options)
        fixed = tuple(members)
        return cls(members=lambda: fixed, **options)

    @classmethod
    def from_genesis(cls, genesis: ledger_pb2.Genesis | str | Path, **options: Any) -> Trust:
        """A trust in a genesis's members (a Genesis or its file; GenesisError if bad)."""
        if not isinstance(genesis, ledger_pb2.Genesis):
            genesis = load_genesis(genesis)
        return cls.from_members(list(genesis.members), **options)

    def pin(self, target: str) -> ServerPin | None:
        """The pin for ``target``, or None where plaintext is the rule (loopback).

        Raises TlsError when ``target`` needs TLS and no member key is known for it.
        """
        if self.keys:
            return ServerPin(self.keys, " or ".join(f"key {k.hex()[:16]}..."
                                                    for k in sorted(self.keys)), self.identity)
        records = list(self.members())
        if self.member:
            named = [m for m in records if m.id == self.member]
            if not named:
                raise TlsError(f"member {self.member!r} is not among the trusted members, so "
                               f"there is no key to check {target}'s certificate against")
            return ServerPin(frozenset(bytes(m.public_key) for m in named), _who(named),
                             self.identity)
        if is_loopback(target) and not self.tls_on_loopback:
            return None
        alias = self.aliases.get(target)
        found = [m for m in records
                 if target in (m.api_address, m.peer_address) or m.id == alias]
        if not found:
            raise TlsError(f"no trusted member has the address {target}, so there is no key "
                           "to check its TLS certificate against; name the member you mean "
                           "(--pin MEMBER, Trust(member=...)) or its key (server_key=...)")
        return ServerPin(frozenset(bytes(m.public_key) for m in found), _who(found),
                         self.identity)


_default: Trust | None = None


def set_default_trust(trust: Trust | None) -> Trust | None:
    """Make ``trust`` the one clients use when given none; return the one it replaces.

    A node process sets its ledger's members (so its own connections pin by the ledger);
    the CLI sets the one its options name.
    """
    global _default
    previous, _default = _default, trust
    return previous


def default_trust() -> Trust | None:
    """The trust clients use when given none (None: loopback only, plaintext)."""
    return _default


def plan(target: str, *, server_key: bytes | None = None, trust: Trust | None = None,
         insecure: bool = False) -> ServerPin | None:
    """How to reach ``target``: the pin to check its certificate by, or None (plaintext).

    Raises TlsError for plaintext or no pin where TLS is the rule; warns InsecureWarning
    for ``insecure`` on loopback.
    """
    loopback = is_loopback(target)
    if insecure:
        if not loopback:
            raise TlsError(f"plaintext (insecure) is only for loopback addresses; {target} "
                           "is reached over TLS")
        warnings.warn(f"talking plaintext to {target} (insecure)", InsecureWarning,
                      stacklevel=3)
        return None
    if server_key is not None:
        identity = trust.identity if trust is not None else None
        return ServerPin(frozenset({bytes(server_key)}), f"key {bytes(server_key).hex()[:16]}...",
                         identity)
    trust = trust or _default
    if trust is None:
        if loopback:
            return None
        raise TlsError(f"{target} is not a loopback address, so it is reached over TLS, and "
                       "no member key was given to check its certificate against: pass "
                       "server_key= or trust= (CLI: --genesis, --pin)")
    return trust.pin(target)


def credentials(pin: ServerPin) -> tuple[grpc.ChannelCredentials, list[tuple[str, Any]]]:
    """Channel credentials whose only roots are the anchors of ``pin``'s keys (with a client
    certificate when it names an identity), and the option that names ``TLS_NAME``."""
    roots = b"".join(anchor_pem(key) for key in sorted(pin.keys))
    client = make_certificate(pin.identity, client=True) if pin.identity is not None else None
    creds = grpc.ssl_channel_credentials(
        root_certificates=roots, private_key=client.key_pem if client else None,
        certificate_chain=client.chain_pem if client else None)
    return creds, [("grpc.ssl_target_name_override", TLS_NAME)]


def open_channel(target: str, pin: ServerPin | None, options: Options = ()) -> grpc.Channel:
    """A blocking gRPC channel to ``target``: plaintext without a pin, else pinned TLS."""
    if pin is None:
        return grpc.insecure_channel(target, options=list(options))
    creds, named = credentials(pin)
    return grpc.secure_channel(target, creds, options=[*options, *named])


def open_aio_channel(target: str, pin: ServerPin | None,
                     options: Options = ()) -> grpc.aio.Channel:
    """``open_channel`` for asyncio."""
    if pin is None:
        return grpc.aio.insecure_channel(target, options=list(options))
    creds, named = credentials(pin)
    return grpc.aio.secure_channel(target, creds, options=[*options, *named])


def channel(target: str, *, server_key: bytes | None = None, trust: Trust | None = None,
            insecure: bool = False, options: Options = ()) -> grpc.Channel:
    """A blocking gRPC channel to a node (for health checks, reflection and the like),
    plaintext or pinned TLS by the rules above."""
    return open_channel(target, plan(target, server_key=server_key, trust=trust,
                                     insecure=insecure), options)


def aio_channel(target: str, *, server_key: bytes | None = None, trust: Trust | None = None,
                insecure: bool = False, options: Options = ()) -> grpc.aio.Channel:
    """``channel`` for asyncio."""
    return open_aio_channel(target, plan(target, server_key=server_key, trust=trust,
                                         insecure=insecure), options)


def handshake_failed(details: str) -> bool:
    """Whether a gRPC error's details say the TLS handshake failed."""
    return "handshake failed" in details.lower()


def _refusal(target: str, pin: ServerPin, details: str, found: str) -> TlsError:
    if "WRONG_VERSION_NUMBER" in details:
        return TlsError(f"{target} does not speak TLS; a node on a loopback address serves "
                        "plaintext unless it was set up with TLS on")
    if "CERTIFICATE_VERIFY_FAILED" not in details:
        return TlsError(f"the TLS handshake with {target} failed: {details}")
    return TlsError(f"{target} does not prove {pin.who}: {found}; refusing to talk to it")


def _presented(certificate: x509.Certificate) -> str:
    try:
        issuer = f"issued by key {issuing_key(certificate).hex()[:16]}..."
    except TlsError as exc:
        issuer = str(exc)
    return (f"its certificate is {issuer} (and says member "
            f"{certificate_member(certificate)!r})")


def _verify_failed(details: str) -> bool:
    return "CERTIFICATE_VERIFY_FAILED" in details


def refusal(target: str, pin: ServerPin, details: str) -> TlsError:
    """The TlsError for a failed handshake with a pinned node, saying what it presents."""
    found = ""
    if _verify_failed(details):
        try:
            found = _presented(read_certificate(target))
        except TdxError as exc:
            found = str(exc)
    return _refusal(target, pin, details, found)


async def refusal_async(target: str, pin: ServerPin, details: str) -> TlsError:
    """``refusal`` without blocking the event loop."""
    found = ""
    if _verify_failed(details):
        try:
            found = _presented(await read_certificate_async(target))
        except TdxError as exc:
            found = str(exc)
    return _refusal(target, pin, details, found)
