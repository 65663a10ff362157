"""``tdx doc`` and ``tdx status`` against a real node, started with ``tdx node start``.

One node serves the whole module: a validator ``customs-de`` (customs, issuer) and a trader
``trader-a`` whose key is passphrase-protected. The node runs as a child process on a free
127.0.0.1 port and is always stopped when the module ends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_testing import (
    as_json,
    free_port,
    make_genesis,
    needs_node,
    run,
    running_node,
)
from tdx.sdk import Client, template

pytestmark = needs_node

PASSPHRASE = "trader secret"
UCR = template("export_declaration")["ucr"]


@dataclass
class LiveNode:
    """A running node and the files that made it."""

    address: str
    folder: Path
    genesis: Path
    customs_key: Path
    trader_key: Path

    def tdx(self, *args: str, code: int = 0, input: str | None = None,
            env: dict[str, str] | None = None) -> str:
        """Run a node command against this node; return its stdout."""
        return run(*args, "--node", self.address, code=code, input=input, env=env).stdout

    def documents(self) -> int:
        with Client(self.address) as client:
            return int(client.status().documents)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    folder = tmp_path_factory.mktemp("live")
    trader_key = folder / "trader-a.key"
    run("keys", "generate", "--out", str(trader_key), "--encrypt",
        env={"TDX_KEY_PASSPHRASE": PASSPHRASE})
    genesis = make_genesis(folder, ("customs-de", "customs,issuer", True),
                           ("trader-a", "trader", False), network="tdx-live")
    address = f"127.0.0.1:{free_port()}"
    run("node", "init", "--genesis", str(genesis), "--key", str(folder / "customs-de.key"),
        "--data", str(folder / "node"), "--api", address)
    with running_node(folder / "node", address):
        yield LiveNode(address, folder, genesis, folder / "customs-de.key", trader_key)


def write(folder: Path, name: str, value: object) -> Path:
    path = folder / name
    path.write_text(json.dumps(value))
    return path


def test_status(live: LiveNode) -> None:
    data = json.loads(live.tdx("status", "--json"))
    assert (data["network"], data["member_id"], data["leader"]) == ("tdx-live", "customs-de",
                                                                    "customs-de")
    assert len(data["last_block_hash"]) == 64 and len(data["genesis_hash"]) == 64
    human = live.tdx("status")
    assert "tdx-live" in human and "customs-de" in human and "height:" in human


def test_status_reads_tdx_node_from_the_environment(live: LiveNode) -> None:
    result = run("status", "--json", env={"TDX_NODE": live.address})
    assert as_json(result)["network"] == "tdx-live"


def test_submit_get_query_proof_verify(live: LiveNode) -> None:
    doc = write(live.folder, "decl.json", template("export_declaration"))
    receipt = json.loads(live.tdx("doc", "submit", str(doc), "--key", str(live.customs_key),
                                  "--json"))
    assert receipt["result"]["status"] == "accepted"
    assert receipt["height"] >= 1 and len(receipt["block_hash"]) == 64
    doc_id = receipt["document_id"]

    record = json.loads(live.tdx("doc", "get", doc_id, "--json"))
    assert (record["kind"], record["issuer"], record["ucr"]) == ("export_declaration",
                                                                 "customs-de", UCR)
    assert record["signature_valid"] is True
    assert record["receipt"]["block_hash"] == receipt["block_hash"]
    sent = template("export_declaration")["content"]
    assert record["document"]["content"]["functional_reference_id"] == \
        sent["functional_reference_id"]
    human = live.tdx("doc", "get", doc_id)
    assert doc_id in human and "accepted" in human and "DE-EX-2026-000123" in human

    listed = json.loads(live.tdx("doc", "query", "--ucr", UCR, "--json"))
    assert doc_id in [r["document_id"] for r in listed]
    by_kind = json.loads(live.tdx("doc", "query", "--kind", "export_declaration",
                                  "--issuer", "customs-de", "--limit", "0", "--json"))
    assert doc_id in [r["document_id"] for r in by_kind]
    assert doc_id in live.tdx("doc", "query", "--ucr", UCR)

    proof = live.folder / "proof.json"
    live.tdx("doc", "proof", doc_id, "--out", str(proof))
    verified = as_json(run("doc", "verify", "--proof", str(proof), "--genesis",
                           str(live.genesis), "--json"))
    assert (verified["document_id"], verified["accepted"]) == (doc_id, True)
    assert verified["height"] == receipt["height"]
    printed = json.loads(live.tdx("doc", "proof", doc_id, "--out", "-"))
    assert "header" in printed and "envelope" in printed


def test_submit_from_stdin_with_an_encrypted_key(live: LiveNode) -> None:
    shipment = json.dumps(template("shipment_events"))
    out = live.tdx("doc", "submit", "-", "--key", str(live.trader_key),
                   input=f"{PASSPHRASE}\n{shipment}", code=1)
    # A trader may not record shipment events: the node refuses, the CLI says why.
    assert out == ""
    invoice = json.dumps(template("invoice"))
    receipt = json.loads(live.tdx("doc", "submit", "-", "--key", str(live.trader_key),
                                  "--json", input=invoice,
                                  env={"TDX_KEY_PASSPHRASE": PASSPHRASE}))
    assert receipt["result"]["status"] == "accepted"


def test_submit_many_reports_each_document(live: LiveNode) -> None:
    batch = write(live.folder, "batch.json", [template("export_declaration"),
                                              template("origin_certificate")])
    refused = write(live.folder, "invoice.json", template("invoice"))
    rows = json.loads(live.tdx("doc", "submit", str(batch), str(refused), "--key",
                               str(live.customs_key), "--json", code=1))
    assert [r["source"] for r in rows] == [f"{batch}[0]", f"{batch}[1]", str(refused)]
    assert [r.get("result", {}).get("status") for r in rows[:2]] == ["accepted", "accepted"]
    assert rows[2]["error"]["code"] == "PERMISSION_DENIED"
    assert all(len(r["document_id"]) == 64 for r in rows)


def test_submit_of_many_shows_a_table(live: LiveNode) -> None:
    batch = write(live.folder, "many.json", [template("packing_list")] * 3)
    out = live.tdx("doc", "submit", str(batch), "--kind", "packing_list", "--key",
                   str(live.customs_key), code=1)
    assert out.count("PERMISSION_DENIED") == 3 and f"{batch}[2]" in out


def test_bad_documents_are_refused_before_anything_is_sent(live: LiveNode) -> None:
    before = live.documents()
    bad_ucr = {**template("export_declaration"), "ucr": "lower case"}
    good = write(live.folder, "good.json", template("export_declaration"))
    bad = write(live.folder, "bad.json", bad_ucr)
    result = run("doc", "submit", str(good), str(bad), "--key", str(live.customs_key),
                 "--node", live.address, code=1)
    assert f"{bad}: ucr:" in result.stderr
    mismatch = run("doc", "submit", str(good), "--kind", "invoice", "--key",
                   str(live.customs_key), "--node", live.address, code=1)
    assert "kind" in mismatch.stderr
    not_json = live.folder / "broken.json"
    not_json.write_text("{")
    assert "not valid JSON" in run("doc", "submit", str(not_json), "--key",
                                   str(live.customs_key), "--node", live.address,
                                   code=1).stderr
    assert live.documents() == before


def test_get_unknown_and_malformed_ids(live: LiveNode) -> None:
    missing = run("doc", "get", "ab" * 32, "--node", live.address, code=1)
    assert "NOT_FOUND" in missing.stderr
    assert "64 hex digits" in run("doc", "get", "xyz", "--node", live.address,
                                  code=2).stderr
    assert "give --ucr" in run("doc", "query", "--node", live.address, code=2).stderr
    assert json.loads(live.tdx("doc", "query", "--ucr", "NO-SUCH-UCR-1", "--json")) == []
    assert "no documents match" in live.tdx("doc", "query", "--ucr", "NO-SUCH-UCR-1")
