"""``tdx cert``, ``tdx aeo``, ``tdx watch`` and ``tdx doc story`` against a real node.

One node serves the module: validator de-customs (DE) with ng-customs (NG), the chamber
de-chamber (issuer, DE) and a trader as further members, each with a key file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_testing import as_json, free_port, needs_node, run, running_node
from tdx.sdk import (
    Identity,
    body_to_json,
    declaration,
    documents_pb2,
    genesis_json,
    goods_item,
    ledger_pb2,
    origin_certificate,
    party,
)

pytestmark = needs_node

NETWORK = "tdx-cli-workflows"
UCR = "4DE-CLI-WORKFLOWS-01"
EXPORTER = party("Rhein Maschinenbau GmbH", "DE123456789012345", "DE")
IMPORTER = party("Lagos Industrial Supplies Ltd", "NG987654321", "NG")
MEMBERS = {"de-customs": ("DE", "customs"), "ng-customs": ("NG", "customs"),
           "de-chamber": ("DE", "issuer"), "acme-trader": ("DE", "trader")}


@dataclass
class Live:
    address: str
    folder: Path

    def key(self, member: str) -> str:
        return str(self.folder / f"{member}.key")

    def tdx(self, *args: str, code: int = 0) -> str:
        return run(*args, "--node", self.address, code=code).stdout

    def submit(self, member: str, body: documents_pb2.DocumentBody, name: str) -> str:
        path = self.folder / f"{name}.json"
        path.write_text(json.dumps(body_to_json(body)))
        receipt = json.loads(self.tdx("doc", "submit", str(path), "--key", self.key(member),
                                      "--json"))
        assert receipt["result"]["status"] == "accepted", receipt
        return str(receipt["document_id"])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("workflows")
    genesis = ledger_pb2.Genesis(network=NETWORK, created_ms=1_700_000_000_000)
    for member_id, (country, role) in MEMBERS.items():
        identity = Identity.generate(member_id)
        identity.save(folder / f"{member_id}.key")
        genesis.members.append(documents_pb2.MemberRecord(
            id=member_id, name=member_id, country_code=country, roles=[role],
            public_key=identity.public_key, validator=member_id == "de-customs"))
    (folder / "genesis.json").write_text(genesis_json(genesis))
    address = f"127.0.0.1:{free_port()}"
    run("node", "init", "--genesis", str(folder / "genesis.json"), "--key",
        str(folder / "de-customs.key"), "--data", str(folder / "node"), "--api", address)
    with running_node(folder / "node", address):
        yield Live(address, folder)


@pytest.fixture(scope="module")
def certified(live: Live) -> tuple[str, str]:
    """A certificate of origin and an import declaration listing it."""
    cert = live.submit("de-chamber", origin_certificate(
        NETWORK, ucr=UCR, number="DE-COO-CLI-1", exporter=EXPORTER, importer=IMPORTER,
        export_country_code="DE", import_country_code="NG",
        goods=[goods_item(1, "Centrifugal pumps", "841370", "40", "NAR",
                          origin_country_code="DE", origin_criterion="PSR")]), "cert")
    decl = live.submit("ng-customs", declaration(
        NETWORK, "import_declaration", ucr=UCR, reference="NG-IM-1", declarant=IMPORTER,
        exporter=EXPORTER, importer=IMPORTER, export_country_code="DE",
        destination_country_code="NG", office_id="NGAPP001",
        goods=[goods_item(1, "Centrifugal pumps", "841370", "40", "NAR")],
        certificate_ids=[cert]), "decl")
    return cert, decl


def test_cert_verify_draw_down_status_and_revoke(live: Live, certified: tuple[str, str]) -> None:
    cert, decl = certified
    status = as_json(run("cert", "status", cert, "--node", live.address, "--json"))
    assert status["status"] == "ACTIVE" and status["current_id"] == cert
    assert status["certificate"]["lines"][0]["remaining"] == "40"

    verified = json.loads(live.tdx("cert", "verify", cert, "--reason", "checked", "--key",
                                   live.key("ng-customs"), "--json"))
    assert verified["result"]["status"] == "accepted"
    drawn = json.loads(live.tdx("cert", "draw-down", cert, "--declaration", decl, "--line",
                                "1=30", "--key", live.key("ng-customs"), "--json"))
    assert drawn["result"]["status"] == "accepted"
    refused = run("cert", "draw-down", cert, "--declaration", decl, "--line", "1=11", "--key",
                  live.key("ng-customs"), "--node", live.address, code=1)
    assert "certificate.over_draw" in refused.stderr and "only 10 remain" in refused.stderr

    human = live.tdx("cert", "status", cert)
    assert "status:" in human and "ACTIVE" in human and "DE-COO-CLI-1" in human
    assert decl in human and "verified by ng-customs" in human

    revoked = json.loads(live.tdx("cert", "revoke", cert, "--reason", "issued in error",
                                  "--key", live.key("de-chamber"), "--json"))
    assert revoked["result"]["notices"][0].startswith("certificate.revoked:")
    assert as_json(run("cert", "status", cert, "--node", live.address, "--json"))[
        "status"] == "REVOKED"
    again = run("cert", "verify", cert, "--key", live.key("ng-customs"), "--node",
                live.address, code=1)
    assert "certificate.revoked" in again.stderr


def test_cert_usage_and_unknown(live: Live) -> None:
    bad = run("cert", "draw-down", "ab" * 32, "--declaration", "cd" * 32, "--line", "one",
              "--key", live.key("ng-customs"), "--node", live.address, code=2)
    assert "LINE=QUANTITY" in bad.stderr
    run("cert", "status", "xyz", "--node", live.address, code=2)
    missing = run("cert", "status", "ef" * 32, "--node", live.address, code=1)
    assert "NOT_FOUND" in missing.stderr


def test_aeo_decide_and_status(live: Live) -> None:
    for action in ("grant", "suspend"):
        out = json.loads(live.tdx("aeo", "decide", action, EXPORTER.id, "--name", EXPORTER.name,
                                  "--reference", "DEAEOF1", "--reason", f"{action} now",
                                  "--recognized-by", "ng,jp", "--key", live.key("de-customs"),
                                  "--json"))
        assert out["result"]["notices"][0].startswith("aeo.status:")
    refused = run("aeo", "decide", "suspend", EXPORTER.id, "--name", EXPORTER.name,
                  "--reference", "DEAEOF1", "--key", live.key("de-customs"), "--node",
                  live.address, code=1)
    assert "aeo.not_active" in refused.stderr
    data = as_json(run("aeo", "status", EXPORTER.id, "--node", live.address, "--json"))
    assert data["status"] == "SUSPENDED"
    assert [e["reason"] for e in data["aeo"]["history"]] == ["grant now", "suspend now"]
    human = live.tdx("aeo", "status", EXPORTER.id)
    assert "SUSPENDED" in human and "NG, JP" in human and "suspend now" in human
    assert "NOT_FOUND" in run("aeo", "status", "nobody", "--node", live.address,
                              code=1).stderr
    run("aeo", "decide", "pause", EXPORTER.id, "--name", "x", "--reference", "r", "--key",
        live.key("de-customs"), code=2)


def test_story_and_watch(live: Live, certified: tuple[str, str]) -> None:
    cert, decl = certified
    story = as_json(run("doc", "story", "--ucr", UCR, "--node", live.address, "--json"))
    assert {d["document_id"] for d in story["documents"]} >= {cert, decl}
    assert [c["certificate_id"] for c in story["certificates"]] == [cert]
    assert [d["declaration_id"] for d in story["declarations"]] == [decl]
    human = live.tdx("doc", "story", "--ucr", UCR)
    assert f"consignment {UCR}" in human and "origin_certificate DE-COO-CLI-1" in human
    assert "no documents" in live.tdx("doc", "story", "--ucr", "4NOTHING-HERE")
    # An AEO decision raises a notice, so there is at least one to watch from height 1.
    live.tdx("aeo", "decide", "grant", "WATCHED-OP-1", "--name", "Watched", "--reference",
             "W1", "--key", live.key("de-customs"))
    lines = live.tdx("watch", "--from-height", "1", "--count", "1", "--json").splitlines()
    first = json.loads(lines[0])
    assert first["notices"] and first["height"] >= 1


@pytest.mark.parametrize("command", [["cert", "status"], ["cert", "verify"],
                                     ["cert", "draw-down"], ["cert", "revoke"],
                                     ["aeo", "status"], ["aeo", "decide"], ["watch"],
                                     ["doc", "story"]])
def test_help_has_an_example(command: list[str]) -> None:
    out = run(*command, "--help").stdout
    assert "Example" in out and "--json" in out
