"""Addresses and TLS from the CLI: ``--p2p HOST:PORT``, the listen options of ``tdx node
init``, and ``--genesis``/``--pin``/``--insecure`` against a node that serves TLS.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_testing import Invoke, as_json, free_port, needs_node, spawn_cli, stop
from tdx.sdk import Client, TdxError, public_key_of_file
from tdx.sdk._p2p import peer_id_of


def test_p2p_host_port_becomes_the_members_multiaddr(invoke: Invoke, tmp_path: Path,
                                                      make_key: Callable[..., Path]) -> None:
    path = tmp_path / "g.json"
    invoke("genesis", "create", "--out", str(path), "--network", "tdx-test")
    for i, (given, protocol, host) in enumerate([("10.0.0.5:7600", "ip4", "10.0.0.5"),
                                                  ("[2001:db8::7]:7600", "ip6", "2001:db8::7"),
                                                  ("ledger.zoll.example:7600", "dns",
                                                   "ledger.zoll.example")]):
        key = make_key(f"m{i}")
        added = as_json(invoke("genesis", "add-member", str(path), "--name", f"M {i}",
                               "--key", str(key), "--roles", "customs", "--country", "DE",
                               "--p2p", given, "--json"))
        peer = peer_id_of(public_key_of_file(key)[1])
        assert added["member"]["p2p_address"] == f"/{protocol}/{host}/tcp/7600/p2p/{peer}"
    shown = as_json(invoke("genesis", "show", str(path), "--json"))
    assert [m["p2p_address"].split("/")[1] for m in shown["members"]] == ["ip4", "ip6", "dns"]
    both = invoke("genesis", "add-member", str(path), "--name", "X", "--key",
                  str(make_key("x")), "--roles", "trader", "--country", "DE", "--p2p",
                  "10.0.0.9:7600", "--p2p-address", "/ip4/10.0.0.9/tcp/7600", code=2)
    assert "--p2p or --p2p-address, not both" in both.stderr
    bad = invoke("genesis", "add-member", str(path), "--name", "X", "--key",
                 str(make_key("y")), "--roles", "trader", "--country", "DE", "--p2p",
                 "10.0.0.9", code=2)
    assert "not HOST:PORT" in bad.stderr
    # An administration sends only its public key (`tdx keys show`), and its addresses.
    sent = public_key_of_file(make_key("customs-fr"))[1].hex()
    by_key = as_json(invoke("genesis", "add-member", str(path), "--name", "FR", "--id",
                            "customs-fr", "--public-key", sent, "--roles", "customs",
                            "--country", "FR", "--p2p", "10.0.0.6:7600", "--json"))
    assert (by_key["member"]["id"], by_key["member"]["public_key"]) == ("customs-fr", sent)
    no_id = invoke("genesis", "add-member", str(path), "--name", "FR", "--public-key", sent,
                   "--roles", "customs", "--country", "FR", code=2)
    assert "or its --public-key and --id" in no_id.stderr


def test_a_proposal_with_p2p_needs_the_members_key(invoke: Invoke, tmp_path: Path,
                                                    make_key: Callable[..., Path]) -> None:
    result = invoke("gov", "propose", "add", "--id", "ng-customs", "--name", "NG",
                    "--country", "NG", "--roles", "customs", "--p2p", "10.0.0.9:7600",
                    "--key", str(make_key("de")), code=2)
    assert "--p2p needs the member's key (--member-key or --public-key)" in result.stderr


@needs_node
def test_init_stores_the_listen_addresses_and_tls(invoke: Invoke, tmp_path: Path,
                                                  make_key: Callable[..., Path]) -> None:
    path = tmp_path / "g.json"
    invoke("genesis", "create", "--out", str(path), "--network", "tdx-test")
    de, nl = make_key("customs-de"), make_key("customs-nl")
    invoke("genesis", "add-member", str(path), "--name", "DE", "--key", str(de), "--roles",
           "customs", "--country", "DE", "--validator", "--address", "203.0.113.5:7400",
           "--peer-address", "203.0.113.5:7401", "--p2p", "203.0.113.5:7600")
    invoke("genesis", "add-member", str(path), "--name", "NL", "--key", str(nl), "--roles",
           "customs", "--country", "NL", "--validator", "--address", "198.51.100.7:7400")
    summary = as_json(invoke(
        "node", "init", "--genesis", str(path), "--key", str(de), "--data",
        str(tmp_path / "de"), "--api-listen", "0.0.0.0:7400", "--peer-listen", "0.0.0.0:7401",
        "--p2p-listen", "0.0.0.0:7600", "--tls", "on", "--require-client-cert", "--json"))
    assert (summary["api_address"], summary["peer_listen"], summary["p2p_listen"]) == (
        "0.0.0.0:7400", "0.0.0.0:7401", "/ip4/0.0.0.0/tcp/7600")
    assert summary["tls"] == "on (client certificates required)"
    stored = json.loads((tmp_path / "de" / "node.json").read_text())
    assert (stored["tls"], stored["client_certificates"]) == ("on", True)
    # NL advertises no peer address: peers reach it on its API port.
    refused = invoke("node", "init", "--genesis", str(path), "--key", str(nl), "--data",
                     str(tmp_path / "nl"), "--peer-listen", "0.0.0.0:7401", code=1)
    assert "has no peer address in the genesis" in refused.stderr
    named = invoke("node", "init", "--genesis", str(path), "--key", str(nl), "--data",
                   str(tmp_path / "nl"), "--p2p-listen", "ledger.example:7600", code=2)
    assert "a node listens on an IP address" in named.stderr
    invoke("node", "init", "--genesis", str(path), "--key", str(nl), "--data",
           str(tmp_path / "nl"), "--tls", "off", code=2)


def test_the_tls_options_are_checked_before_anything_connects(invoke: Invoke,
                                                              tmp_path: Path) -> None:
    insecure = invoke("status", "--node", "10.0.0.5:7400", "--insecure", code=2)
    assert "plaintext is only for loopback addresses" in insecure.stderr
    no_genesis = invoke("status", "--pin", "customs-de", code=2)
    assert "give the genesis too (--genesis)" in no_genesis.stderr
    unpinned = invoke("status", "--node", "10.0.0.5:7400", code=1)
    assert "no member key was given to check its certificate against" in unpinned.stderr


@pytest.fixture
def tls_node(tmp_path: Path, make_key: Callable[..., Path],
             invoke: Invoke) -> Iterator[dict[str, Path | str]]:
    """A validator built with the CLI alone, serving TLS on 127.0.0.1 (``--tls on``)."""
    genesis = tmp_path / "genesis.json"
    address = f"127.0.0.1:{free_port()}"
    invoke("genesis", "create", "--out", str(genesis), "--network", "tdx-test")
    key, other = make_key("customs-de"), make_key("customs-nl")
    for member, member_key, extra in (("customs-de", key, ["--validator", "--address",
                                                           address]),
                                      ("customs-nl", other, [])):
        invoke("genesis", "add-member", str(genesis), "--name", member, "--key",
               str(member_key), "--roles", "customs", "--country", "DE", *extra)
    invoke("node", "init", "--genesis", str(genesis), "--key", str(key), "--data",
           str(tmp_path / "node"), "--tls", "on")
    log = tmp_path / "node.log"
    process = spawn_cli("node", "start", "--data", str(tmp_path / "node"), log=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with Client(address, server_key=public_key_of_file(key)[1], timeout=1,
                            retry=None) as client:
                    client.status()
                break
            except TdxError:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield {"address": address, "genesis": genesis, "key": key, "other": other}
    finally:
        stop(process)


@needs_node
def test_commands_pin_a_tls_node_by_the_genesis_or_a_key(
        invoke: Invoke, tls_node: dict[str, Path | str], tmp_path: Path) -> None:
    node, genesis = str(tls_node["address"]), str(tls_node["genesis"])
    status = as_json(invoke("status", "--node", node, "--genesis", genesis, "--json"))
    assert status["member_id"] == "customs-de"
    health = as_json(invoke("node", "health", "--node", node, "--pin", str(tls_node["key"]),
                            "--json"))
    assert health["status"] == "SERVING"
    wrong = invoke("status", "--node", node, "--pin", str(tls_node["other"]), code=1)
    assert "does not prove key" in wrong.stderr and "says member 'customs-de'" in wrong.stderr
    plain = invoke("status", "--node", node, code=1)
    assert "a node that serves TLS closes plaintext connections" in plain.stderr
    insecure = invoke("status", "--node", node, "--insecure", "--genesis", genesis, code=1)
    assert "warning: talking plaintext" in insecure.stderr
    # The member list a pinned node gives is a trust file too (how a rotation is followed).
    members = tmp_path / "members.json"
    members.write_text(invoke("gov", "members", "--node", node, "--genesis", genesis,
                              "--json").stdout)
    again = as_json(invoke("status", "--node", node, "--json",
                           env={"TDX_GENESIS": str(members)}))
    assert again["member_id"] == "customs-de"
