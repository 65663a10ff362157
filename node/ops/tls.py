"""A node's TLS: which listeners use it, the certificate it serves, and whom it trusts.

``tls`` in ``node.json`` (``tdx node init --tls``):

- ``auto`` (the default): TLS on every listener whose address is not loopback, plaintext on
  loopback ones; connections to other nodes follow the SDK's rule (TLS to every address that
  is not loopback, pinned to the member key the ledger names for it).
- ``on``: TLS on loopback too, listening and dialling (tests, drills, shared hosts).

There is no ``off``: plaintext is for loopback only. The certificate is issued by the node's
member key (``tdx.sdk.make_certificate``: a fresh P-256 TLS key each time) when the node
starts, and made again once half its lifetime has passed; grpc asks for it on each new
handshake (dynamic credentials), so a renewal closes no connection. Its chain (public) is
written to ``DIR/tls/node.pem`` for operators to inspect. A member key rotation takes effect
when the node restarts with the new key: clients that pin by the ledger follow once
governance has recorded it.

With ``client_certificates`` (``tdx node init --require-client-cert``) every TLS listener
requires a client certificate issued by the key of a current member (mTLS): the roots are
the trust anchors of the ledger's member keys, made again when the membership changes.
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import grpc.aio
from tdx.sdk import Identity, Trust, aio_channel, anchor_pem, is_loopback, make_certificate
from tdx.sdk._client import CHANNEL_OPTIONS
from tdx.sdk._tls import CERTIFICATE_LIFETIME, split_target
from tdx.v1 import documents_pb2

if TYPE_CHECKING:
    from tdx.node.ops.config import NodeConfig
    from tdx.node.state.ledger import Ledger

log = logging.getLogger("tdx.node.tls")

TLS_MODES = ("auto", "on")
Members = Callable[[], Iterable[documents_pb2.MemberRecord]]


def check_tls_mode(mode: str) -> str:
    """``mode`` when it is a TLS mode; ValueError naming the modes otherwise."""
    if mode not in TLS_MODES:
        raise ValueError(f"TLS mode {mode!r} is not one of {', '.join(TLS_MODES)} (plaintext "
                         "is for loopback addresses only, which 'auto' serves so)")
    return mode


def listener_uses_tls(address: str, mode: str) -> bool:
    """Whether a listener on ``address`` serves TLS under ``mode``."""
    return mode == "on" or not is_loopback(address)


class NodeTls:
    """The TLS side of one node: its listeners' credentials and its own connections' trust.

    ``hosts`` are the host names and addresses the node is reached at (for the certificate);
    ``members`` reads the ledger's current members (read on grpc's handshake threads: it must
    not block).
    """

    def __init__(self, identity: Identity, network: str, members: Members, *,
                 mode: str = "auto", client_certificates: bool = False,
                 hosts: Iterable[str] = (), pem_path: Path | None = None,
                 lifetime: datetime.timedelta = CERTIFICATE_LIFETIME) -> None:
        self.identity = identity
        self.network = network
        self.mode = check_tls_mode(mode)
        self.client_certificates = client_certificates
        self._members = members
        self._hosts = sorted({split_target(h)[0] for h in hosts if h})
        self._pem_path = pem_path
        self._lifetime = lifetime
        self._lock = threading.Lock()
        self._renew_at = datetime.datetime.min.replace(tzinfo=datetime.UTC)
        self._roots_of: frozenset[bytes] = frozenset()
        self._current: grpc.ServerCertificateConfiguration | None = None
        self._generation = 0

    @classmethod
    def for_node(cls, identity: Identity, ledger: Ledger, config: NodeConfig,
                 pem_path: Path) -> NodeTls:
        """The TLS of a node: its settings from ``node.json``, the hosts it listens on and
        is reached at (for its certificate), its ledger's members (to pin others by)."""
        member = ledger.member(identity.member_id)
        hosts = [config.api_address, config.peer_listen]
        if member is not None:
            hosts += [member.api_address, member.peer_address]
        return cls(identity, ledger.network, lambda: ledger.members, mode=config.tls,
                   client_certificates=config.client_certificates, hosts=hosts,
                   pem_path=pem_path)

    def uses_tls(self, address: str) -> bool:
        """Whether this node's listener on ``address`` serves TLS."""
        return listener_uses_tls(address, self.mode)

    def trust(self) -> Trust:
        """How this node's own connections pin other nodes: by its ledger's members, as it
        reads them at each connection, presenting its member key in client certificates."""
        return Trust.from_members(self._members, tls_on_loopback=self.mode == "on",
                                  identity=self.identity)

    def connect(self, address: str) -> grpc.aio.Channel:
        """A channel to another node's API at ``address``, pinned by this node's trust (a
        ``ClientPool``'s ``connect``); TlsError when TLS is due and no member is there."""
        return aio_channel(address, trust=self.trust(), options=CHANNEL_OPTIONS)

    def add_port(self, server: grpc.aio.Server, address: str) -> int:
        """Listen on ``address``: TLS or plaintext by the rule; 0 when it cannot."""
        if not self.uses_tls(address):
            log.info("serving plaintext on %s (a loopback address)", address)
            return server.add_insecure_port(address)
        log.info("serving TLS on %s%s", address,
                 " (client certificates required)" if self.client_certificates else "")
        # Credentials of its own for each listener: grpc gives a dynamic credentials' first
        # configuration to one port only (a second add_secure_port with it fails to bind).
        # Every listener's fetcher serves the node's current certificate.
        with self._lock:
            current = self._current or self._configuration()
            served = [self._generation]
        # grpc documents a None from the fetcher as "keep the current certificate"; the
        # type stubs leave None out.
        credentials = grpc.dynamic_ssl_server_credentials(
            current, lambda: self._refresh(served),  # type: ignore[arg-type,return-value]
            require_client_authentication=self.client_certificates)
        return server.add_secure_port(address, credentials)

    def _member_keys(self) -> frozenset[bytes]:
        return frozenset(bytes(m.public_key) for m in self._members())

    def _configuration(self) -> grpc.ServerCertificateConfiguration:
        """A new certificate (and roots, when client certificates are required)."""
        now = datetime.datetime.now(datetime.UTC)
        issued = make_certificate(self.identity, hosts=self._hosts, network=self.network,
                                  lifetime=self._lifetime, now=now)
        self._renew_at = now + self._lifetime / 2
        roots = None
        if self.client_certificates:
            self._roots_of = self._member_keys()
            roots = b"".join(anchor_pem(key) for key in sorted(self._roots_of))
        if self._pem_path is not None:
            self._write_chain(issued.chain_pem)
        log.info("TLS certificate issued by member key %s... until %s",
                 self.identity.public_key.hex()[:16], issued.not_after.isoformat())
        self._current = grpc.ssl_server_certificate_configuration(
            [(issued.key_pem, issued.chain_pem)], root_certificates=roots)
        self._generation += 1
        return self._current

    def _refresh(self, served: list[int]) -> grpc.ServerCertificateConfiguration | None:
        """grpc's question before each handshake on a listener that serves configuration
        ``served[0]``: the current configuration when it is newer (renewed first when due),
        or None (keep)."""
        try:
            with self._lock:
                due = datetime.datetime.now(datetime.UTC) >= self._renew_at
                if not due and self.client_certificates:
                    due = self._member_keys() != self._roots_of
                if due:
                    self._configuration()
                if served[0] == self._generation:
                    return None
                served[0] = self._generation
                return self._current
        except Exception:  # raised into grpc's handshake thread it would end the server
            log.exception("renewing the TLS certificate failed; the current one is kept")
            return None

    def _write_chain(self, chain: bytes) -> None:
        assert self._pem_path is not None
        try:
            self._pem_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._pem_path.with_suffix(".tmp")
            tmp.write_bytes(chain)
            os.replace(tmp, self._pem_path)
        except OSError as exc:
            log.warning("cannot write the TLS certificate to %s: %s", self._pem_path, exc)
