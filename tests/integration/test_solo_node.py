"""A real node process, driven through the SDK: submit, read, query, subscribe, prove."""

from __future__ import annotations

import asyncio
import threading

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from solonet import NETWORK, SoloNetwork
from tdx.sdk import (
    AlreadyExists,
    AsyncClient,
    Client,
    Identity,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    body_from_json,
    build,
    decode_body,
    documents_pb2,
    ledger_pb2,
    seal,
    template,
    verify_proof,
)


def _doc(identity: Identity, kind: str, **changes: str) -> documents_pb2.Envelope:
    form = template(kind)
    form.update(changes)
    return seal(identity, body_from_json(NETWORK, form))


def test_submit_get_query_and_prove(solo: SoloNetwork) -> None:
    """A receipted document can be read back, found by UCR and kind, and proven offline."""
    trader = solo.members["acme-trading"]
    with Client(solo.address) as client:
        receipt = client.submit(_doc(trader, "invoice", ucr="4DE-TEST-0001"))
        assert receipt.height == 1
        assert receipt.result.status == ledger_pb2.RESULT_STATUS_ACCEPTED
        record = client.get(receipt.document_id)
        assert decode_body(record.envelope.body).issuer == "acme-trading"
        assert record.kind == "invoice"
        assert [r.document_id for r in client.query(ucr="4DE-TEST-0001")] == [
            receipt.document_id]
        assert client.query(kind="invoice")[0].receipt.block_hash == receipt.block_hash
        assert client.query(issuer="acme-trading", kind="invoice")
        verified = verify_proof(client.get_proof(receipt.document_id), solo.genesis)
        assert verified.document_id == receipt.document_id and verified.accepted
        assert verified.height == 1 and verified.signatures == 1
        status = client.status()
        assert (status.network, status.height, status.documents) == (NETWORK, 1, 1)
        assert status.last_block_hash == receipt.block_hash


def test_batch_submit_and_paged_query(solo: SoloNetwork) -> None:
    """submit_many orders many documents in few blocks; query pages through all of them."""
    logistics = solo.members["atlantic"]
    envelopes = [_doc(logistics, "packing_list") for _ in range(600)]
    with Client(solo.address) as client:
        outcomes = client.submit_many(envelopes)
        assert all(isinstance(o, ledger_pb2.Receipt) for o in outcomes)
        assert client.status().height < 20
        found = client.query(kind="packing_list")
        assert len(found) == 600
        assert len(client.query(kind="packing_list", limit=250)) == 250
        assert len({r.document_id for r in found}) == 600


def test_refusals_leave_the_ledger_unchanged(solo: SoloNetwork, tmp_path: object) -> None:
    """Each bad input gets its status code and the ledger does not move."""
    trader = solo.members["acme-trading"]
    with Client(solo.address) as client:
        good = _doc(trader, "invoice")
        client.submit(good)
        height = client.status().height

        forged = documents_pb2.Envelope(body=good.body + b"\x00", signer=good.signer,
                                        signature=good.signature)
        with pytest.raises(InvalidArgument, match="signature"):
            client.submit(forged)

        stranger = Identity.generate("acme-trading")
        with pytest.raises(PermissionDenied, match="not a member"):
            client.submit(_doc(stranger, "invoice"))

        with pytest.raises(PermissionDenied, match="may not submit origin_certificate"):
            client.submit(_doc(trader, "origin_certificate"))

        with pytest.raises(AlreadyExists) as replay:
            client.submit(good)
        assert replay.value.receipt is not None and replay.value.receipt.height == height

        garbage = documents_pb2.Envelope(body=b"\xff\xff\xff", signer=trader.public_key,
                                         signature=trader.sign(b"tdx.v1.envelope\x00",
                                                               b"\xff\xff\xff"))
        with pytest.raises(InvalidArgument, match="not a valid DocumentBody"):
            client.submit(garbage)

        bad_hs = template("invoice")
        bad_hs["content"]["goods_items"][0]["hs_code"] = "12"
        with pytest.raises(InvalidArgument, match=r"goods_items\[0\]\.hs_code"):
            client.submit(seal(trader, body_from_json(NETWORK, bad_hs)))

        other_net = seal(trader, body_from_json("another-net", template("invoice")))
        with pytest.raises(InvalidArgument, match="network"):
            client.submit(other_net)

        big = template("invoice")
        big["content"]["goods_items"][0]["description"] = "x" * 300_000
        with pytest.raises(ResourceExhausted):
            client.submit(seal(trader, body_from_json(NETWORK, big)))

        huge = documents_pb2.Envelope(body=b"\x00" * (5 * 1024 * 1024), signer=trader.public_key,
                                      signature=b"\x00" * 64)
        with pytest.raises(ResourceExhausted):
            client.submit(huge)

        with pytest.raises(NotFound):
            client.get("ab" * 32)

        status = client.status()
        assert status.height == height and status.documents == 1


def test_replay_within_one_batch(solo: SoloNetwork) -> None:
    """Within one batch the same document twice: first accepted, second refused as replay."""
    trader = solo.members["acme-trading"]
    envelope = _doc(trader, "invoice")
    with Client(solo.address) as client:
        outcomes = client.submit_many([envelope, envelope])
        assert isinstance(outcomes[0], ledger_pb2.Receipt)
        assert isinstance(outcomes[1], AlreadyExists)
        assert outcomes[1].receipt == outcomes[0]
        assert client.status().documents == 1


def test_subscribe_streams_new_documents(solo: SoloNetwork) -> None:
    """A subscriber sees documents committed after it subscribed, filtered by kind."""
    customs = solo.members["de-customs"]
    trader = solo.members["acme-trading"]
    seen: list[str] = []
    ready = threading.Event()

    def listen() -> None:
        with Client(solo.address) as client:
            stream = client.subscribe(from_height=1, kinds=["export_declaration"])
            ready.set()
            for item in stream:
                seen.append(item.record.kind)
                if len(seen) == 2:
                    return

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    ready.wait(5)
    with Client(solo.address) as client:
        client.submit(_doc(customs, "export_declaration"))
        client.submit(_doc(trader, "invoice"))
        client.submit(_doc(trader, "export_declaration"))
    thread.join(10)
    assert seen == ["export_declaration", "export_declaration"]


def test_async_client(solo: SoloNetwork) -> None:
    """AsyncClient does what Client does, concurrently."""
    holder = solo.members["aquaflow"]

    async def main() -> None:
        async with AsyncClient(solo.address) as client:
            bodies = [build(NETWORK, "ip_rights_record", template("ip_rights_record")["content"])
                      for _ in range(20)]
            receipts = await asyncio.gather(*(client.submit(seal(holder, b)) for b in bodies))
            assert len({r.document_id for r in receipts}) == 20
            records = await client.query(kind="ip_rights_record")
            assert len(records) == 20
            assert (await client.get(receipts[0].document_id)).kind == "ip_rights_record"
            with pytest.raises(NotFound):
                await client.get_block(999)
            assert (await client.status()).documents == 20

    asyncio.run(main())


def test_health_and_reflection(solo: SoloNetwork) -> None:
    """Server reflection lists the ledger service (health is checked by the fixture)."""
    with grpc.insecure_channel(solo.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = stub.ServerReflectionInfo(iter([
            reflection_pb2.ServerReflectionRequest(list_services="")]))
        names = {s.name for a in answers for s in a.list_services_response.service}
    assert "tdx.v1.LedgerService" in names
    assert "grpc.health.v1.Health" in names
