"""The client API's refusals through the real wire, against a node process.

- Every RPC answers a malformed request INVALID_ARGUMENT with a reason that names the
  field (google.rpc BadRequest), never UNKNOWN with a Python class name.
- Per-connection and per-member budgets answer RESOURCE_EXHAUSTED with a RetryInfo hint,
  change nothing, and a retry after the hint goes through.
- A node starts even though a member's stored record holds a mesh address that does not
  parse (attack 6 of issue 9): it skips that member's address with one warning.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from solonet import MEMBERS, NETWORK, VALIDATOR
from tdx.node.ops.config import init_node
from tdx.node.ops.process import free_port, spawn_node, wait_healthy
from tdx.node.ops.testing import LocalNetwork, local_network, write_network
from tdx.node.state.store import Prefix, Store
from tdx.sdk import ENVELOPE_DOMAIN, Client, body_from_json, documents_pb2, seal, template
from tdx.v1 import ledger_pb2, ledger_pb2_grpc

Call = Callable[..., Any]
CHANNEL_OPTIONS = [("grpc.max_send_message_length", 8 << 20),
                   # A channel of its own: one connection, one peer address at the node.
                   ("grpc.use_local_subchannel_pool", 1)]


def _details(error: grpc.RpcError) -> status_pb2.Status:
    for key, value in error.trailing_metadata() or ():  # type: ignore[attr-defined]
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    raise AssertionError("no rich status details")


def _refusal(call: Call, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        answer = call(request, timeout=10)
        if hasattr(answer, "__next__"):  # a server stream answers on its first read
            next(answer)
    return caught.value


def _bad_field(error: grpc.RpcError) -> str:
    for detail in _details(error).details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return str(bad.field_violations[0].field)
    return ""


def _retry_seconds(error: grpc.RpcError) -> float:
    for detail in _details(error).details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            hint = error_details_pb2.RetryInfo()
            detail.Unpack(hint)
            return float(hint.retry_delay.ToTimedelta().total_seconds())
    raise AssertionError("no RetryInfo")


def _stub(address: str) -> tuple[grpc.Channel, ledger_pb2_grpc.LedgerServiceStub]:
    channel = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
    return channel, ledger_pb2_grpc.LedgerServiceStub(channel)


def test_every_rpc_answers_malformed_requests_invalid_argument_naming_the_field(
        solo: LocalNetwork) -> None:
    trader = solo.members["acme-trading"]
    junk_body = b"\xff\xff\xff"
    signed_junk = documents_pb2.Envelope(body=junk_body, signer=trader.public_key,
                                         signature=trader.sign(ENVELOPE_DOMAIN, junk_body))
    too_many = ledger_pb2.SubmitBatchRequest(envelopes=[signed_junk] * 2049)
    hex_id = "ab" * 32
    channel, stub = _stub(solo.address)
    cases: list[tuple[Call, Any, str]] = [
        (stub.Submit, ledger_pb2.SubmitRequest(), "envelope.body"),
        (stub.Submit, ledger_pb2.SubmitRequest(envelope=documents_pb2.Envelope(
            body=b"x", signer=b"abc", signature=bytes(64))), "envelope.signer"),
        (stub.Submit, ledger_pb2.SubmitRequest(envelope=documents_pb2.Envelope(
            body=b"x", signer=trader.public_key, signature=b"short")), "envelope.signature"),
        (stub.Submit, ledger_pb2.SubmitRequest(envelope=signed_junk), "body"),
        (stub.SubmitBatch, too_many, "envelopes"),
        (stub.Get, ledger_pb2.GetRequest(document_id="zz"), "document_id"),
        (stub.Get, ledger_pb2.GetRequest(document_id="ab" * 5000), "document_id"),
        (stub.Get, ledger_pb2.GetRequest(document_id=hex_id.upper()), "document_id"),
        (stub.Query, ledger_pb2.QueryRequest(), "ucr"),
        (stub.Query, ledger_pb2.QueryRequest(kind="invoice", limit=2**32 - 1), "limit"),
        (stub.Query, ledger_pb2.QueryRequest(kind="invoice", page_token="zz"), "page_token"),
        (stub.Query, ledger_pb2.QueryRequest(kind="invoice", page_token="ab" * 600),
         "page_token"),
        (stub.Query, ledger_pb2.QueryRequest(ucr="x" * 513), "ucr"),
        (stub.Query, ledger_pb2.QueryRequest(issuer="a\x00b"), "issuer"),
        (stub.Subscribe, ledger_pb2.SubscribeRequest(from_height=2**64 - 1), "from_height"),
        (stub.Subscribe, ledger_pb2.SubscribeRequest(kinds=["invoice"] * 65), "kinds"),
        (stub.Subscribe, ledger_pb2.SubscribeRequest(ucr="\n"), "ucr"),
        (stub.GetProof, ledger_pb2.GetProofRequest(document_id="-1"), "document_id"),
        (stub.GetBlock, ledger_pb2.GetBlockRequest(height=0), "height"),
        (stub.GetBlock, ledger_pb2.GetBlockRequest(height=2**64 - 1), "height"),
        (stub.GetCertificate, ledger_pb2.GetCertificateRequest(), "certificate_id"),
        (stub.GetCertificate, ledger_pb2.GetCertificateRequest(certificate_id="c" * 10_000),
         "certificate_id"),
        (stub.GetAeoStatus, ledger_pb2.GetAeoStatusRequest(operator_id="\x00" * 8),
         "operator_id"),
        (stub.GetConsignment, ledger_pb2.GetConsignmentRequest(), "ucr"),
        (stub.GetMember, ledger_pb2.GetMemberRequest(member_id="a\tb"), "member_id"),
        (stub.GetProposal, ledger_pb2.GetProposalRequest(proposal_id="not-hex"),
         "proposal_id"),
    ]
    try:
        for call, request, field in cases:
            error = _refusal(call, request)
            what = f"{call._method.decode()} {str(request)[:80]!r}"  # type: ignore[attr-defined]
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (what, error.details())
            assert _bad_field(error) == field, (what, error.details())
            assert "<class" not in error.details() and "Error" not in error.details()
        # Well-formed requests for what is not there are NOT_FOUND, as before.
        for call, request in ((stub.Get, ledger_pb2.GetRequest(document_id=hex_id)),
                              (stub.GetBlock, ledger_pb2.GetBlockRequest(height=7)),
                              (stub.GetMember, ledger_pb2.GetMemberRequest(member_id="x"))):
            assert _refusal(call, request).code() == grpc.StatusCode.NOT_FOUND
        with Client(solo.address) as client:
            status = client.status()
        assert (status.height, status.documents) == (0, 0)
    finally:
        channel.close()


def test_budgets_answer_resource_exhausted_with_a_retry_hint(tmp_path: Path) -> None:
    # Buckets of 5 that refill in 5 s: a second full batch right after the first is over.
    env = {"TDX_MAX_BATCH_ENVELOPES": "5", "TDX_CONNECTION_RATE": "1",
           "TDX_CONNECTION_BURST": "5", "TDX_MEMBER_RATE": "1", "TDX_MEMBER_BURST": "5"}
    with local_network(MEMBERS, validator=VALIDATOR, network=NETWORK, folder=tmp_path,
                       env=env) as net:
        trader = net.members["acme-trading"]
        invoices = [seal(trader, body_from_json(NETWORK, template("invoice")))
                    for _ in range(10)]
        first = ledger_pb2.SubmitBatchRequest(envelopes=invoices[:5])
        second = ledger_pb2.SubmitBatchRequest(envelopes=invoices[5:])
        channel, stub = _stub(net.address)
        other_channel, other = _stub(net.address)
        try:
            answer = stub.SubmitBatch(first, timeout=20)
            assert [o.error_code for o in answer.outcomes] == [""] * 5
            # The same connection again: refused whole, with when to retry.
            error = _refusal(stub.SubmitBatch, second)
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "this connection may submit 1 envelopes a second" in (error.details() or "")
            hint = _retry_seconds(error)
            assert 0 < hint <= 5.0
            # Another connection, the same member: each of its envelopes is refused.
            answer = other.SubmitBatch(second, timeout=20)
            assert {o.error_code for o in answer.outcomes} == {"RESOURCE_EXHAUSTED"}
            assert "a member may submit 1 documents a second" in answer.outcomes[0].error_message
            with Client(net.address) as client:
                assert client.status().documents == 5
            time.sleep(hint + 0.5)  # both buckets are full again
            answer = stub.SubmitBatch(second, timeout=20)
            assert [o.error_code for o in answer.outcomes] == [""] * 5
        finally:
            channel.close()
            other_channel.close()
        with Client(net.address) as client:
            assert client.status().documents == 10
        log = net.node.log_path.read_text()
        assert "connection.rate_limited" in log and "member.rate_limited" in log


def test_a_node_starts_with_a_member_record_whose_mesh_address_does_not_parse(
        tmp_path: Path) -> None:
    bad = "/ip4/999.1.1.1/tcp/7600/p2p/nonsense"
    address = f"127.0.0.1:{free_port()}"
    _, genesis_path, identities = write_network(tmp_path, MEMBERS, validator=VALIDATOR,
                                                network=NETWORK, api_address=address)
    init_node(tmp_path / "node", genesis_path, tmp_path / f"{VALIDATOR}.key", address)
    # As governance could have stored it before addresses were checked: straight into the
    # node's member records.
    store = Store(tmp_path / "node" / "ledger")
    try:
        key = Prefix.MEMBER + b"acme-trading"
        record = documents_pb2.MemberRecord.FromString(store.get(key) or b"")
        assert record.public_key == identities["acme-trading"].public_key
        record.p2p_address = bad
        store.write({key: record.SerializeToString(deterministic=True)}, sync=True)
    finally:
        store.close()
    node = spawn_node(tmp_path / "node", address, tmp_path / "node.log",
                      {"TDX_P2P_LISTEN": "/ip4/127.0.0.1/tcp/0"})
    try:
        wait_healthy(node)
        with Client(address) as client:
            assert client.status().member_id == VALIDATOR
    finally:
        node.stop()
    log = node.log_path.read_text()
    warnings = [line for line in log.splitlines() if bad in line and "WARNING" in line]
    assert len(warnings) == 1 and "acme-trading" in warnings[0], warnings
    assert "listening on" in log
