"""Fuzz target: the client API (tdx.v1.LedgerService), every RPC, on a running node.

Requests are random messages of each RPC's request type, valid requests with bytes edited
(sent as they are, as long as they still decode), and submissions of envelopes mutated from
valid ones (unsigned edits, bodies edited and signed again, random fields merged in).

Invariants: no answer is UNKNOWN or INTERNAL; the node keeps running; and nothing enters
the ledger that the API did not take: every envelope in a new block is one the node
answered with a receipt, its body is canonical (it decodes and encodes to the same bytes),
and its ``created_ms`` lies within the default window around its block's time.
"""

from __future__ import annotations

from collections import Counter

import grpc
from fuzz_strategies import envelopes, messages, mutated, parses
from google.protobuf import message_factory
from google.protobuf.message import Message
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from meshnet import NETWORK
from tdx.node.ops.testing import LocalNetwork
from tdx.sdk import Client, body_from_json, document_id, documents_pb2, ledger_pb2, seal, template

SERVICE = ledger_pb2.DESCRIPTOR.services_by_name["LedgerService"]
METHODS = {m.name: m for m in SERVICE.methods}
FORBIDDEN = (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
MAX_AGE_MS, MAX_LEAD_MS = 24 * 3600 * 1000, 5 * 60 * 1000
SEEDS = [("de-customs", "export_declaration"), ("acme-trading", "invoice"),
         ("atlantic", "shipment_events"), ("de-chamber", "origin_certificate")]
FUZZ = settings(max_examples=1500, deadline=None, database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck))


def request_class(name: str) -> type[Message]:
    return message_factory.GetMessageClass(METHODS[name].input_type)


def call(channel: grpc.Channel, name: str, raw: bytes) -> tuple[grpc.StatusCode, bytes]:
    """Call RPC ``name`` with ``raw`` request bytes; (code, first response bytes)."""
    path = f"/{SERVICE.full_name}/{name}"
    try:
        if METHODS[name].server_streaming:
            stream = channel.unary_stream(path)(raw, timeout=0.3)
            first = b""
            try:
                first = next(iter(stream))
            except StopIteration:
                pass
            finally:
                stream.cancel()
            return grpc.StatusCode.OK, first
        return grpc.StatusCode.OK, channel.unary_unary(path)(raw, timeout=10)
    except grpc.RpcError as exc:
        if METHODS[name].server_streaming and exc.code() in (
                grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
            return grpc.StatusCode.OK, b""
        assert exc.code() not in FORBIDDEN, f"{name} answered {exc.code().name}: {exc.details()}"
        return exc.code(), b""


def taken(name: str, answer: bytes) -> set[str]:
    """Ids of the documents a Submit or SubmitBatch answer gave a receipt for."""
    if name == "Submit" and answer:
        return {ledger_pb2.SubmitResponse.FromString(answer).receipt.document_id}
    if name == "SubmitBatch" and answer:
        outcomes = ledger_pb2.SubmitBatchResponse.FromString(answer).outcomes
        return {o.receipt.document_id for o in outcomes if not o.error_code}
    return set()


def test_fuzz_client_api(solo: LocalNetwork) -> None:
    members = list(solo.members.values())
    seeds = [(seal(solo.members[who], body_from_json(NETWORK, template(kind))),
              solo.members[who]) for who, kind in SEEDS]
    envelope = seeds[0][0]
    with Client(solo.address) as client:
        start = client.status().height
        taken_ids = {client.submit(envelope).document_id}
    mutant = envelopes(seeds, members)
    valid_requests = {
        "Submit": ledger_pb2.SubmitRequest(envelope=seeds[1][0]),
        "SubmitBatch": ledger_pb2.SubmitBatchRequest(envelopes=[e for e, _ in seeds]),
        "Get": ledger_pb2.GetRequest(document_id=document_id(envelope.body)),
        "GetBlock": ledger_pb2.GetBlockRequest(height=start + 1),
        "GetProof": ledger_pb2.GetProofRequest(document_id=document_id(envelope.body)),
    }
    names = sorted(METHODS)
    seen: Counter[str] = Counter()
    requests = st.one_of(
        st.tuples(st.just("Submit"), mutant.map(lambda e: ledger_pb2.SubmitRequest(envelope=e))),
        st.tuples(st.just("SubmitBatch"), st.lists(mutant, min_size=1, max_size=4).map(
            lambda es: ledger_pb2.SubmitBatchRequest(envelopes=es))),
        st.sampled_from(names).flatmap(lambda n: st.tuples(
            st.just(n), messages(METHODS[n].input_type, near=[start, start + 1]))),
        st.sampled_from(sorted(valid_requests)).flatmap(lambda n: st.tuples(
            st.just(n), mutated(valid_requests[n].SerializeToString()))),
    )
    with grpc.insecure_channel(solo.address) as channel:

        @FUZZ
        @given(requests)
        def fuzz(request: tuple[str, Message | bytes]) -> None:
            name, made = request
            raw = made if isinstance(made, bytes) else made.SerializeToString()
            if not parses(request_class(name), raw):
                seen["undecodable"] += 1  # gRPC itself refuses it before tdx sees it
                return
            code, answer = call(channel, name, raw)
            seen[f"{name} {code.name}"] += 1
            if code == grpc.StatusCode.OK:
                taken_ids.update(taken(name, answer))
            assert solo.node.alive(), f"the node stopped after {name}:\n{solo.node.log_tail()}"

        fuzz()
    print(sorted(seen.items()))
    assert sum(seen.values()) - seen["undecodable"] > FUZZ.max_examples // 2, seen
    assert solo.node.alive(), solo.node.log_tail()
    with Client(solo.address) as client:
        end = client.status().height
        for height in range(start + 1, end + 1):
            block = client.get_block(height)
            header = ledger_pb2.BlockHeader.FromString(block.header)
            for envelope in block.envelopes:
                assert document_id(envelope.body) in taken_ids, (
                    f"block {height} holds a document the API never took")
                body = documents_pb2.DocumentBody.FromString(envelope.body)
                assert body.SerializeToString(deterministic=True) == envelope.body, (
                    f"block {height} holds a body that is not canonical")
                assert (header.proposed_ms - MAX_AGE_MS <= body.created_ms
                        <= header.proposed_ms + MAX_LEAD_MS), (
                    f"block {height} holds a document created at {body.created_ms}")
