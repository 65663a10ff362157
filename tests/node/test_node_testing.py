"""tdx.node.ops.testing: the one-validator network that tests and examples share."""

from __future__ import annotations

from pathlib import Path

import pytest
from tdx.node.ops.testing import local_network, write_network
from tdx.sdk import Client, body_from_json, load_genesis, seal, template

MEMBERS = {"de-customs": ("DE", ["customs"]), "acme": ("NL", ["trader"])}


def test_write_network_makes_keys_and_a_genesis(tmp_path: Path) -> None:
    genesis, path, identities = write_network(tmp_path, MEMBERS, validator="de-customs",
                                              network="tdx-unit", api_address="127.0.0.1:1")
    assert load_genesis(path) == genesis
    assert {m.id: (m.country_code, list(m.roles), m.validator) for m in genesis.members} == {
        "de-customs": ("DE", ["customs"], True), "acme": ("NL", ["trader"], False)}
    assert (tmp_path / "acme.key").stat().st_mode & 0o777 == 0o600
    assert identities["acme"].public_key == genesis.members[1].public_key
    with pytest.raises(ValueError, match="not among the members"):
        write_network(tmp_path / "x", MEMBERS, validator="nobody")


def test_local_network_runs_a_node_and_stops_it(tmp_path: Path) -> None:
    with local_network(MEMBERS, validator="de-customs", network="tdx-unit",
                       folder=tmp_path) as net:
        with Client(net.address) as client:
            receipt = client.submit(seal(net.members["acme"],
                                         body_from_json("tdx-unit", template("invoice"))))
        assert receipt.height == 1
        node = net.node
    assert not node.alive()
