"""``tdx gov``, ``tdx keys rotate`` and confidential ``tdx doc`` against a real node.

One node serves the module: a validator ``customs-de`` and a second customs member
``customs-nl`` (both customs, so a proposal needs both approvals) and a trader ``trader-a``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_testing import free_port, make_genesis, needs_node, run, running_node
from tdx.sdk import template

pytestmark = needs_node


@dataclass
class GovNode:
    address: str
    folder: Path

    def tdx(self, *args: str, code: int = 0) -> str:
        return run(*args, "--node", self.address, code=code).stdout

    def key(self, member: str) -> str:
        return str(self.folder / f"{member}.key")

    def json(self, *args: str) -> object:
        return json.loads(self.tdx(*args, "--json"))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GovNode]:
    folder = tmp_path_factory.mktemp("gov")
    genesis = make_genesis(folder, ("customs-de", "customs", True),
                           ("customs-nl", "customs", False), ("trader-a", "trader", False),
                           ("trader-b", "trader", False), network="tdx-gov")
    address = f"127.0.0.1:{free_port()}"
    run("node", "init", "--genesis", str(genesis), "--key", str(folder / "customs-de.key"),
        "--data", str(folder / "node"), "--api", address)
    with running_node(folder / "node", address):
        yield GovNode(address, folder)


def test_a_member_is_proposed_voted_in_and_listed(live: GovNode) -> None:
    run("keys", "generate", "--out", live.key("ng-trader"))
    receipt = live.json("gov", "propose", "add", "--id", "ng-trader", "--name", "NG Trader",
                        "--country", "NG", "--roles", "trader", "--member-key",
                        live.key("ng-trader"), "--key", live.key("customs-de"))
    assert isinstance(receipt, dict)
    proposal = receipt["document_id"]
    assert "needs 2 of 2" in receipt["result"]["notices"][0]
    first = live.tdx("gov", "vote", proposal, "--approve", "--key", live.key("customs-de"))
    assert "1 for, 0 against" in first
    # A second vote by the same member is recorded as rejected (exit 1, one line).
    again = run("gov", "vote", proposal, "--reject", "--key", live.key("customs-de"),
                "--node", live.address, code=1)
    assert "gov.vote_duplicate" in again.stderr
    # A trader may not vote at all: refused before ordering.
    refused = run("gov", "vote", proposal, "--approve", "--key", live.key("trader-a"),
                  "--node", live.address, code=1)
    assert "PERMISSION_DENIED" in refused.stderr
    decided = live.tdx("gov", "vote", proposal, "--approve", "--comment", "ok", "--key",
                       live.key("customs-nl"))
    assert "member ng-trader added" in decided
    shown = live.json("gov", "show", proposal)
    assert isinstance(shown, dict)
    assert (shown["status"], shown["action"], shown["member"]["id"]) == (
        "approved", "add", "ng-trader")
    assert [(v["member_id"], v["approve"]) for v in shown["votes"]] == [
        ("customs-de", True), ("customs-nl", True)]
    assert "approved" in live.tdx("gov", "show", proposal)
    members = live.json("gov", "members")
    assert isinstance(members, list)
    assert [m["id"] for m in members] == ["customs-de", "customs-nl", "ng-trader", "trader-a",
                                          "trader-b"]
    assert "ng-trader" in live.tdx("gov", "members")


def test_update_and_remove_proposals_and_their_refusals(live: GovNode) -> None:
    receipt = live.json("gov", "propose", "update", "trader-a", "--roles", "trader,logistics",
                        "--key", live.key("customs-de"))
    assert isinstance(receipt, dict) and receipt["result"]["status"] == "accepted"
    pending = run("gov", "propose", "remove", "trader-a", "--key", live.key("customs-nl"),
                  "--node", live.address, code=1)
    assert "gov.proposal_pending" in pending.stderr
    unknown = run("gov", "propose", "remove", "nobody", "--key", live.key("customs-de"),
                  "--node", live.address, code=1)
    assert "gov.member_unknown" in unknown.stderr
    missing = run("gov", "show", "ab" * 32, "--node", live.address, code=1)
    assert "NOT_FOUND" in missing.stderr


def test_usage_mistakes_exit_2(live: GovNode) -> None:
    run("gov", "propose", "add", "--id", "x", "--key", live.key("customs-de"),
        "--node", live.address, code=2)
    run("gov", "vote", "nothex", "--approve", "--key", live.key("customs-de"), code=2)
    run("gov", "propose", "add", "--id", "x", "--roles", "admiral", "--key",
        live.key("customs-de"), code=2)
    assert "Example" in run("gov", "propose", "add", "--help").stdout


def test_keys_rotate_then_sign_with_the_new_key_at_once(live: GovNode) -> None:
    invoice = live.folder / "invoice.json"
    invoice.write_text(json.dumps(template("invoice")))
    old_id = live.json("doc", "submit", str(invoice), "--key", live.key("trader-a"))
    rotated = live.json("keys", "rotate", "--key", live.key("trader-a"), "--out",
                        str(live.folder / "trader-a.new.key"))
    assert isinstance(rotated, dict) and rotated["valid_from_height"] == rotated["height"] + 1
    live.tdx("doc", "submit", str(invoice), "--key", str(live.folder / "trader-a.new.key"))
    stale = run("doc", "submit", str(invoice), "--key", live.key("trader-a"), "--node",
                live.address, code=1)
    assert "not a member" in stale.stderr
    assert isinstance(old_id, dict)
    shown = live.json("doc", "get", old_id["document_id"])
    assert isinstance(shown, dict) and shown["signature_valid"] is True


def test_confidential_submit_and_decrypt(live: GovNode) -> None:
    invoice = live.folder / "secret-invoice.json"
    invoice.write_text(json.dumps(template("invoice")))
    receipt = live.json("doc", "submit", str(invoice), "--key", live.key("trader-b"),
                        "--encrypt-for", "customs-nl", "--public", "hs_codes")
    assert isinstance(receipt, dict) and receipt["result"]["status"] == "accepted"
    doc_id = receipt["document_id"]
    sealed = live.json("doc", "get", doc_id)
    assert isinstance(sealed, dict) and sealed["kind"] == "confidential"
    assert "Lagos" not in json.dumps(sealed)
    assert sealed["recipients"] == ["customs-nl", "trader-b"]
    opened = live.json("doc", "get", doc_id, "--decrypt-with", live.key("customs-nl"))
    assert isinstance(opened, dict) and opened["decrypted"] is True
    assert opened["document"]["kind"] == "invoice"
    assert opened["document"]["content"]["importer"]["name"] == "Lagos Industrial Supplies Ltd"
    assert "Lagos Industrial" in live.tdx("doc", "get", doc_id, "--decrypt-with",
                                          live.key("trader-b"))
    outsider = run("doc", "get", doc_id, "--decrypt-with", live.key("customs-de"), "--node",
                   live.address, code=1)
    assert "not a recipient" in outsider.stderr
    nobody = run("doc", "submit", str(invoice), "--key", live.key("trader-b"),
                 "--encrypt-for", "nobody", "--node", live.address, code=1)
    assert "no member 'nobody'" in nobody.stderr
    run("doc", "submit", str(invoice), "--key", live.key("trader-b"), "--public", "hs_codes",
        "--node", live.address, code=2)


def test_show_counts_a_decided_proposal_against_the_members_of_its_day(live: GovNode) -> None:
    """Admitting a customs member changes the count after: the decision stays 2 of 2."""
    run("keys", "generate", "--out", live.key("pt-customs"))
    receipt = live.json("gov", "propose", "add", "--id", "pt-customs", "--name", "PT Customs",
                        "--country", "PT", "--roles", "customs", "--member-key",
                        live.key("pt-customs"), "--key", live.key("customs-de"))
    assert isinstance(receipt, dict)
    proposal = receipt["document_id"]
    for member in ("customs-de", "customs-nl"):
        live.tdx("gov", "vote", proposal, "--approve", "--key", live.key(member))
    shown = live.json("gov", "show", proposal)
    assert isinstance(shown, dict)
    assert (shown["status"], shown["approvals"], shown["needed"], shown["customs_members"]) == (
        "approved", 2, 2, 2)
    assert "2 (needed 2 of 2 customs when decided)" in live.tdx("gov", "show", proposal)
    opened = live.json("gov", "propose", "remove", "trader-b", "--key", live.key("customs-de"))
    assert isinstance(opened, dict)
    now = live.json("gov", "show", opened["document_id"])
    assert isinstance(now, dict) and (now["needed"], now["customs_members"]) == (2, 3)
