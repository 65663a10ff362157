"""A node process serving TLS on 127.0.0.1 (``tls: on``): clients pinned by the ledger reach
it, clients pinned to another key are refused, and a node that requires client certificates
takes only members'.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from solonet import MEMBERS, NETWORK, VALIDATOR
from tdx.node.ops.config import paths
from tdx.node.ops.testing import LocalNetwork, local_network
from tdx.sdk import (
    AsyncClient,
    Client,
    Identity,
    TlsError,
    Unavailable,
    body_from_json,
    issuing_key,
    ledger_pb2,
    load_certificate,
    read_certificate,
    seal,
    template,
)


@pytest.fixture(scope="module")
def tls_net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    with local_network(MEMBERS, validator=VALIDATOR, network=NETWORK, tls="on",
                       folder=tmp_path_factory.mktemp("tls")) as net:
        yield net


@pytest.fixture(scope="module")
def mtls_net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNetwork]:
    with local_network(MEMBERS, validator=VALIDATOR, network=NETWORK, tls="on",
                       client_certificates=True, folder=tmp_path_factory.mktemp("mtls")) as net:
        yield net


def test_the_node_serves_a_certificate_issued_by_its_member_key(tls_net: LocalNetwork) -> None:
    validator_key = tls_net.members[VALIDATOR].public_key
    assert issuing_key(read_certificate(tls_net.address)) == validator_key
    written = paths(tls_net.node.data_dir)["tls"]
    assert issuing_key(load_certificate(written.read_bytes())) == validator_key


def test_a_client_pinned_by_the_genesis_submits_and_reads(tls_net: LocalNetwork) -> None:
    form = template("invoice")
    form["ucr"] = "4DE-TLS-0001"
    envelope = seal(tls_net.members["acme-trading"], body_from_json(NETWORK, form))
    with Client(tls_net.address, trust=tls_net.trust()) as client:
        receipt = client.submit(envelope)
        assert receipt.result.status == ledger_pb2.RESULT_STATUS_ACCEPTED
        assert client.get(receipt.document_id).kind == "invoice"

    async def read() -> int:
        async with AsyncClient(tls_net.address,
                               server_key=tls_net.members[VALIDATOR].public_key) as client:
            return (await client.status()).height

    assert asyncio.run(read()) >= 1


def test_a_client_pinned_to_another_members_key_is_refused(tls_net: LocalNetwork) -> None:
    impostor_key = tls_net.members["de-chamber"].public_key
    with Client(tls_net.address, server_key=impostor_key, retry=None) as client, \
            pytest.raises(TlsError) as refused:
        client.status()
    message = str(refused.value)
    assert f"does not prove key {impostor_key.hex()[:16]}" in message
    assert f"issued by key {tls_net.members[VALIDATOR].public_key.hex()[:16]}" in message
    assert "says member 'de-customs'" in message


def test_a_plaintext_client_gets_no_answer(tls_net: LocalNetwork) -> None:
    with Client(tls_net.address, retry=None, timeout=5) as client, \
            pytest.raises(Unavailable):
        client.status()


def test_a_node_that_requires_client_certificates_takes_members_only(
        mtls_net: LocalNetwork, tmp_path: Path) -> None:
    with Client(mtls_net.address, trust=mtls_net.trust(mtls_net.members["watcher"]),
                retry=None) as client:
        assert client.status().network == NETWORK
    stranger = Identity.generate("stranger")
    for trust in (mtls_net.trust(stranger), mtls_net.trust()):
        with Client(mtls_net.address, trust=trust, retry=None, timeout=5) as client, \
                pytest.raises(Unavailable):
            client.status()
