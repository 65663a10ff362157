"""The CLI checks member records and the genesis's document window before it writes a file
or sends a proposal: the libp2p address is parsed as the nodes will parse it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cli_testing import Invoke, as_json, free_port
from tdx.network import peer_id_of
from tdx.sdk import public_key_of_file


def _peer(key: Path) -> str:
    return peer_id_of(public_key_of_file(key)[1])


def test_genesis_create_sets_and_shows_the_document_window(invoke: Invoke,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "genesis.json"
    invoke("genesis", "create", "--out", str(path), "--network", "tdx-test",
           "--max-document-age", "2", "--max-document-lead", "1")
    shown = as_json(invoke("genesis", "show", str(path), "--json"))
    assert (shown["created_max_age_ms"], shown["created_max_lead_ms"]) == (7_200_000, 60_000)
    assert "2 h before and 1 min after" in invoke("genesis", "show", str(path)).stdout
    default = tmp_path / "default.json"
    invoke("genesis", "create", "--out", str(default), "--network", "tdx-test")
    shown = as_json(invoke("genesis", "show", str(default), "--json"))
    assert (shown["created_max_age_ms"], shown["created_max_lead_ms"]) == (86_400_000, 300_000)
    refused = invoke("genesis", "create", "--out", str(tmp_path / "bad.json"), "--network",
                     "tdx-test", "--max-document-age", "0", code=2)
    assert "--max-document-age" in refused.stderr
    assert not (tmp_path / "bad.json").exists()


def test_genesis_add_member_parses_the_p2p_address(invoke: Invoke, tmp_path: Path,
                                                   make_key: Callable[..., Path]) -> None:
    path = tmp_path / "genesis.json"
    invoke("genesis", "create", "--out", str(path), "--network", "tdx-test")
    key, other = make_key("customs-de"), make_key("customs-nl")
    before = path.read_text()
    member = ("genesis", "add-member", str(path), "--name", "Zoll DE", "--key", str(key),
              "--country", "DE", "--roles", "customs", "--validator")
    for bad in (f"/ip4/127.0.0.1/tcp/7600/p2p/{_peer(other)}", "/ip4/127.0.0.1/tcp/7600",
                f"/ip4/127.0.0.1/tcp/0/p2p/{_peer(key)}", "127.0.0.1:7600"):
        refused = invoke(*member, "--p2p-address", bad, code=2)
        assert "--p2p-address" in refused.stderr
    assert path.read_text() == before
    good = f"/ip4/127.0.0.1/tcp/7600/p2p/{_peer(key)}"
    invoke(*member, "--p2p-address", good)
    shown = as_json(invoke("genesis", "show", str(path), "--json"))
    assert shown["members"][0]["p2p_address"] == good


def test_genesis_names_are_checked(invoke: Invoke, tmp_path: Path,
                                   make_key: Callable[..., Path]) -> None:
    path = tmp_path / "genesis.json"
    invoke("genesis", "create", "--out", str(path), "--network", "tdx-test")
    refused = invoke("genesis", "add-member", str(path), "--name", "Zoll\x1b[2J",
                     "--key", str(make_key("customs-de")), "--country", "DE",
                     "--roles", "customs", code=1)
    assert "members[0].name" in refused.stderr and "U+001B" in refused.stderr


def test_gov_propose_refuses_a_bad_record_before_it_connects(
        invoke: Invoke, make_key: Callable[..., Path]) -> None:
    signer, member = make_key("customs-de"), make_key("ng-customs")
    # Nothing listens there: a refusal that names the field shows nothing was sent.
    nowhere = f"127.0.0.1:{free_port()}"
    common = ("gov", "propose", "add", "--id", "ng-customs", "--country", "NG",
              "--roles", "customs", "--member-key", str(member), "--key", str(signer),
              "--node", nowhere)
    refused = invoke(*common, "--name", "Nigeria",
                     "--p2p-address", f"/ip4/10.0.0.9/tcp/7600/p2p/{_peer(signer)}", code=2)
    assert "--p2p-address" in refused.stderr and "not the member's key" in refused.stderr
    refused = invoke(*common, "--name", "Nigeria\u202e", code=1)
    assert "member.name" in refused.stderr and "no node answers" not in refused.stderr
    refused = invoke(*common, "--name", "Nigeria", "--validator", code=1)
    assert "api_address" in refused.stderr
