"""Real TLS handshakes on 127.0.0.1: clients pinned to a member key reach the node that
holds it, and are refused, with a message naming what they met, by any other.

The server is a LedgerService that only answers Status, with a certificate made by
``make_certificate`` exactly as a node makes its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from typing import Any

import grpc
import pytest
from tdx.sdk import (
    AsyncClient,
    Client,
    Identity,
    TlsError,
    Trust,
    Unavailable,
    anchor_pem,
    documents_pb2,
    issuing_key,
    ledger_pb2,
    make_certificate,
    read_certificate,
)
from tdx.v1 import ledger_pb2_grpc

DE = Identity.from_seed(b"\x01" * 32, "customs-de")
FR = Identity.from_seed(b"\x02" * 32, "customs-fr")
NL = Identity.from_seed(b"\x03" * 32, "customs-nl")


class StatusOnly(ledger_pb2_grpc.LedgerServiceServicer):
    def __init__(self, member: str) -> None:
        self.member = member

    def Status(self, request: Any, context: Any) -> ledger_pb2.StatusResponse:
        return ledger_pb2.StatusResponse(network="tdx-test", member_id=self.member)


@contextmanager
def server(member: Identity | None, *, clients: list[Identity] | None = None,
           port: int = 0) -> Iterator[str]:
    """A node answering Status on 127.0.0.1: TLS with ``member``'s certificate (plaintext
    when None), requiring client certificates of ``clients`` when given."""
    running = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    ledger_pb2_grpc.add_LedgerServiceServicer_to_server(
        StatusOnly(member.member_id if member else "plain"), running)  # type: ignore[abstract]
    if member is None:
        bound = running.add_insecure_port(f"127.0.0.1:{port}")
    else:
        issued = make_certificate(member, hosts=["127.0.0.1"])
        roots = b"".join(anchor_pem(c.public_key) for c in clients) if clients else None
        bound = running.add_secure_port(f"127.0.0.1:{port}", grpc.ssl_server_credentials(
            [(issued.key_pem, issued.chain_pem)], root_certificates=roots,
            require_client_auth=clients is not None))
    running.start()
    try:
        yield f"127.0.0.1:{bound}"
    finally:
        running.stop(None).wait()


def test_a_client_pinned_to_the_nodes_key_talks_to_it() -> None:
    with server(DE) as target, Client(target, server_key=DE.public_key, retry=None) as client:
        assert client.status().member_id == "customs-de"


def test_a_client_pinned_to_another_members_key_is_refused_with_what_it_met() -> None:
    with server(DE) as target, Client(target, server_key=FR.public_key, timeout=5,
                                      retry=None) as client, pytest.raises(TlsError) as refused:
        client.status()
    message = str(refused.value)
    assert f"{target} does not prove key {FR.public_key.hex()[:16]}..." in message
    assert f"issued by key {DE.public_key.hex()[:16]}..." in message
    assert "says member 'customs-de'" in message


def test_the_async_client_pins_the_same_way() -> None:
    async def run(target: str) -> None:
        async with AsyncClient(target, server_key=DE.public_key, retry=None) as client:
            assert (await client.status()).member_id == "customs-de"
        async with AsyncClient(target, timeout=5, retry=None,
                               trust=Trust.from_members([documents_pb2.MemberRecord(
                                   id="customs-fr", public_key=FR.public_key,
                                   api_address=target)], tls_on_loopback=True)) as client:
            with pytest.raises(TlsError, match="does not prove member customs-fr"):
                await client.status()

    with server(DE) as target:
        asyncio.run(run(target))


def test_a_pinned_client_says_when_the_node_serves_plaintext() -> None:
    with server(None) as target, Client(target, server_key=DE.public_key, timeout=5,
                                        retry=None) as client, \
            pytest.raises(TlsError, match="does not speak TLS"):
        client.status()


def test_a_node_that_requires_client_certificates_takes_only_its_members() -> None:
    with server(DE, clients=[FR]) as target:
        member = Trust(keys=frozenset({DE.public_key}), identity=FR)
        with Client(target, trust=member, retry=None) as client:
            assert client.status().member_id == "customs-de"
        # Refused by the node after the handshake: to the client the connection just closes.
        for trust in (Trust(keys=frozenset({DE.public_key}), identity=NL),
                      Trust(keys=frozenset({DE.public_key}))):
            with Client(target, trust=trust, timeout=5, retry=None) as client, \
                    pytest.raises(Unavailable, match="Socket closed"):
                client.status()


def test_a_client_that_pins_by_a_changing_member_list_follows_a_new_key() -> None:
    with server(DE) as target:
        members = [documents_pb2.MemberRecord(id="customs-de", public_key=DE.public_key,
                                              api_address=target)]
        trust = Trust.from_members(lambda: members, tls_on_loopback=True)
        with Client(target, trust=trust, retry=None) as client:
            assert client.status().member_id == "customs-de"
        port = int(target.rpartition(":")[2])
    # The member rotated its key (the list now says FR's) and its node restarted with it.
    members[0] = documents_pb2.MemberRecord(id="customs-de", public_key=FR.public_key,
                                            api_address=target)
    with server(FR, port=port):
        assert client.status().member_id == "customs-fr"


def test_reading_a_certificate_trusts_nothing_but_shows_it() -> None:
    with server(NL) as target:
        certificate = read_certificate(target)
    assert issuing_key(certificate) == NL.public_key
