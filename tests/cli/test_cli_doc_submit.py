"""``tdx doc submit`` outcomes that a healthy solo node rarely gives, with a stand-in client.

The stand-in replaces ``tdx.sdk.Client`` inside the CLI only; the documents are still built,
sealed and schema-checked by the real SDK.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cli_testing import as_json, run
from tdx.cli import doc as doc_module
from tdx.sdk import (
    AlreadyExists,
    ApiError,
    Rejected,
    document_id,
    ledger_pb2,
    open_envelope,
    public_key_of_file,
    template,
)

REJECTED = ledger_pb2.Result(status=ledger_pb2.RESULT_STATUS_REJECTED,
                             code="certificate.unknown", reason="no such certificate")


class StandInClient:
    """Answers status with network tdx-test and submit with what ``answer`` makes."""

    answer: ClassVar[Any] = None
    seen: ClassVar[list[Any]] = []

    def __init__(self, target: str, **_: object) -> None:
        self.target = target

    def __enter__(self) -> StandInClient:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def status(self) -> ledger_pb2.StatusResponse:
        return ledger_pb2.StatusResponse(network="tdx-test")

    def submit(self, envelope: Any) -> ledger_pb2.Receipt:
        StandInClient.seen.append(envelope)
        result: ledger_pb2.Receipt = StandInClient.answer(envelope)
        return result

    def submit_many(self, envelopes: list[Any]) -> list[ledger_pb2.Receipt | ApiError]:
        StandInClient.seen.extend(envelopes)
        return [StandInClient.answer(e) for e in envelopes]


def receipt(envelope: Any, result: ledger_pb2.Result | None = None) -> ledger_pb2.Receipt:
    return ledger_pb2.Receipt(
        document_id=document_id(envelope.body), height=5, block_hash=b"\xab" * 32,
        result=result or ledger_pb2.Result(status=ledger_pb2.RESULT_STATUS_ACCEPTED))


@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(doc_module, "Client", StandInClient)
    StandInClient.seen = []
    path = tmp_path / "chamber-de.key"
    run("keys", "generate", "--out", str(path))
    return path


@pytest.fixture
def revocation(tmp_path: Path) -> Path:
    path = tmp_path / "revoke.json"
    path.write_text(json.dumps(template("certificate_revocation")))
    return path


def test_a_rejected_document_prints_its_receipt_and_exits_1(key: Path,
                                                            revocation: Path) -> None:
    def reject(envelope: Any) -> ledger_pb2.Receipt:
        raise Rejected("rejected by the ledger", receipt=receipt(envelope, REJECTED))

    StandInClient.answer = reject
    result = run("doc", "submit", str(revocation), "--key", str(key), "--json", code=1)
    shown = as_json(result)
    assert shown["result"] == {"status": "rejected", "code": "certificate.unknown",
                               "reason": "no such certificate", "notices": []}
    assert shown["document_id"] == document_id(StandInClient.seen[0].body)
    assert "REJECTED" in result.stderr
    human = run("doc", "submit", str(revocation), "--key", str(key), code=1)
    assert "rejected (certificate.unknown: no such certificate)" in human.stdout


def test_a_replay_prints_the_original_receipt(key: Path, revocation: Path) -> None:
    def replayed(envelope: Any) -> ledger_pb2.Receipt:
        raise AlreadyExists("seen before", receipt=receipt(envelope))

    StandInClient.answer = replayed
    result = run("doc", "submit", str(revocation), "--key", str(key), code=1)
    assert "height:" in result.stdout and "already on the ledger" in result.stderr


def test_an_accepted_document_is_signed_by_the_key_and_names_its_member(
        key: Path, revocation: Path) -> None:
    StandInClient.answer = receipt
    shown = as_json(run("doc", "submit", str(revocation), "--key", str(key), "--json"))
    assert shown["result"]["status"] == "accepted"
    assert shown["block_hash"] == "ab" * 32
    body = open_envelope(StandInClient.seen[0])
    assert (body.issuer, body.network) == ("chamber-de", "tdx-test")
    assert StandInClient.seen[0].signer == public_key_of_file(key)[1]


def test_many_documents_are_sent_in_one_batch_with_one_row_each(key: Path,
                                                                tmp_path: Path) -> None:
    StandInClient.answer = receipt
    many = tmp_path / "many.json"
    many.write_text(json.dumps([template("origin_certificate")] * 30))
    rows = as_json(run("doc", "submit", str(many), "--key", str(key), "--json"))
    assert len(rows) == 30 == len({r["document_id"] for r in rows})
    assert rows[29]["source"] == f"{many}[29]"
    human = run("doc", "submit", str(many), "--key", str(key)).stdout
    assert human.count("accepted") == 30


def test_an_empty_array_and_non_objects_are_refused(key: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    assert "no documents" in run("doc", "submit", str(empty), "--key", str(key),
                                 code=1).stderr
    numbers = tmp_path / "numbers.json"
    numbers.write_text("[1]")
    assert f"{numbers}[0]: a document is a JSON object" in run(
        "doc", "submit", str(numbers), "--key", str(key), code=1).stderr
    assert "only once" in run("doc", "submit", "-", "-", "--key", str(key), code=2).stderr
    assert StandInClient.seen == []
