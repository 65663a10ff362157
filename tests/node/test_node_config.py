"""A node's data directory: init_node, load_config, open_genesis and their one-line errors."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sdk_factories import identity, make_genesis
from tdx.node.errors import NodeError
from tdx.node.ops.config import (
    CONFIG_FORMAT,
    check_store_genesis,
    init_node,
    load_config,
    open_genesis,
    paths,
)
from tdx.node.replication.storage import RaftStore
from tdx.node.state.ledger import Ledger
from tdx.node.state.store import Store
from tdx.node.state.workflows import EFFECTS
from tdx.sdk import Identity, genesis_hash, genesis_json, ledger_pb2


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A genesis file and key files of de-customs (validator) and watcher (observer)."""
    (tmp_path / "genesis.json").write_text(genesis_json(make_genesis()))
    identity("de-customs").save(tmp_path / "de.key")
    identity("watcher").save(tmp_path / "watcher.key")
    return {"genesis": tmp_path / "genesis.json", "key": tmp_path / "de.key",
            "observer": tmp_path / "watcher.key", "data": tmp_path / "data"}


def init(files: dict[str, Path], **options: str | None) -> dict[str, str]:
    return init_node(files["data"], files["genesis"], files["key"], **options)  # type: ignore[arg-type]


def one_line(exc: pytest.ExceptionInfo[NodeError]) -> str:
    text = str(exc.value)
    assert text and "\n" not in text
    return text


def test_init_creates_a_complete_directory(files: dict[str, Path]) -> None:
    summary = init(files, api_address="127.0.0.1:7999")
    data = files["data"]
    assert summary == {"member_id": "de-customs", "network": "tdx-test",
                       "api_address": "127.0.0.1:7999", "peer_address": "", "tls": "auto",
                       "data_dir": str(data)}
    assert stat.S_IMODE(paths(data)["key"].stat().st_mode) == 0o600
    assert Identity.load(paths(data)["key"]).public_key == identity("de-customs").public_key
    assert paths(data)["genesis"].read_bytes() == files["genesis"].read_bytes()
    config = load_config(data)
    assert (config.member_id, config.network, config.format) == (
        "de-customs", "tdx-test", CONFIG_FORMAT)
    assert config.genesis_hash == genesis_hash(make_genesis()).hex()
    genesis = open_genesis(data, config)
    store = Store(paths(data)["ledger"])
    try:
        check_store_genesis(store, genesis)
        ledger = Ledger(store, EFFECTS)
        assert (ledger.height, ledger.network) == (0, "tdx-test")
        # A founding validator starts with the founding membership in its Raft log.
        raft = RaftStore(store)
        assert raft.last_index() == 3
        assert raft.hard_state.commit == 3
    finally:
        store.close()


def test_observer_starts_with_an_empty_raft_log(files: dict[str, Path]) -> None:
    init_node(files["data"], files["genesis"], files["observer"])
    store = Store(paths(files["data"])["ledger"])
    try:
        assert RaftStore(store).last_index() == 0
    finally:
        store.close()


def test_api_address_defaults_to_the_members(files: dict[str, Path]) -> None:
    assert init(files)["api_address"] == "127.0.0.1:7400"


def test_key_not_in_the_genesis(files: dict[str, Path], tmp_path: Path) -> None:
    Identity.generate("de-customs").save(tmp_path / "other.key")
    with pytest.raises(NodeError) as caught:
        init_node(files["data"], files["genesis"], tmp_path / "other.key")
    assert "is not a member" in one_line(caught)
    assert not files["data"].exists()


def test_key_file_naming_another_member(files: dict[str, Path], tmp_path: Path) -> None:
    Identity.from_seed(identity("de-customs").seed, "nl-customs").save(tmp_path / "x.key")
    with pytest.raises(NodeError) as caught:
        init_node(files["data"], files["genesis"], tmp_path / "x.key")
    assert "registers this key as 'de-customs'" in one_line(caught)


def test_non_empty_directory_is_refused(files: dict[str, Path]) -> None:
    files["data"].mkdir()
    (files["data"] / "something").write_text("x")
    with pytest.raises(NodeError) as caught:
        init(files)
    assert "not empty" in one_line(caught)


def test_empty_existing_directory_is_fine(files: dict[str, Path]) -> None:
    files["data"].mkdir()
    assert init(files)["member_id"] == "de-customs"


def test_already_initialized_directory_is_refused(files: dict[str, Path]) -> None:
    init(files)
    with pytest.raises(NodeError) as caught:
        init(files)
    assert "already initialized" in one_line(caught)


@pytest.mark.parametrize("address", ["nohost", ":7400", "host:", "host:0", "host:65536",
                                     "host:http", "127.0.0.1:-1"])
def test_bad_api_address(files: dict[str, Path], address: str) -> None:
    with pytest.raises(NodeError) as caught:
        init(files, api_address=address)
    assert "HOST:PORT" in one_line(caught)
    assert not files["data"].exists()


def test_missing_or_bad_inputs(files: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(NodeError) as caught:
        init_node(files["data"], tmp_path / "absent.json", files["key"])
    assert "no such genesis file" in one_line(caught)
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(NodeError):
        init_node(files["data"], tmp_path / "bad.json", files["key"])
    with pytest.raises(NodeError) as caught:
        init_node(files["data"], files["genesis"], tmp_path / "absent.key")
    assert "no such key file" in one_line(caught)


def test_passphrase_is_checked_at_init(files: dict[str, Path], tmp_path: Path) -> None:
    key = tmp_path / "locked.key"
    Identity.from_seed(identity("de-customs").seed, "de-customs").save(key, passphrase="pw")
    with pytest.raises(NodeError) as caught:
        init_node(files["data"], files["genesis"], key, passphrase="wrong")
    assert "wrong passphrase" in one_line(caught)
    assert init_node(files["data"], files["genesis"], key, passphrase="pw")["member_id"] == \
        "de-customs"


# -- load_config and open_genesis ------------------------------------------------------

def test_load_config_of_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(NodeError) as caught:
        load_config(tmp_path / "nope")
    assert "no such data directory" in one_line(caught)


def test_load_config_without_node_json(tmp_path: Path) -> None:
    with pytest.raises(NodeError) as caught:
        load_config(tmp_path)
    assert "no node.json" in one_line(caught)


@pytest.mark.parametrize("text", ["{", "[]", '"x"', '{"member_id": "a"}',
                                  '{"unexpected": 1}', "\udcff"])
def test_load_config_of_a_corrupt_node_json(files: dict[str, Path], text: str) -> None:
    init(files)
    paths(files["data"])["config"].write_text(text, errors="surrogateescape")
    with pytest.raises(NodeError) as caught:
        load_config(files["data"])
    assert "corrupt" in one_line(caught)


def test_load_config_of_an_unknown_format(files: dict[str, Path]) -> None:
    init(files)
    config_path = paths(files["data"])["config"]
    record = json.loads(config_path.read_text())
    record["format"] = "tdx-node/99"
    config_path.write_text(json.dumps(record))
    with pytest.raises(NodeError) as caught:
        load_config(files["data"])
    assert "unknown format" in one_line(caught)


@pytest.mark.parametrize("name", ["genesis", "key", "ledger"])
def test_load_config_of_an_incomplete_directory(files: dict[str, Path], name: str) -> None:
    init(files)
    target = paths(files["data"])[name]
    if target.is_dir():
        for child in target.iterdir():
            child.unlink()
        target.rmdir()
    else:
        target.unlink()
    with pytest.raises(NodeError) as caught:
        load_config(files["data"])
    assert f"{target.name} is missing" in one_line(caught)


def test_unreadable_node_json_is_a_node_error(files: dict[str, Path]) -> None:
    init(files)
    config_path = paths(files["data"])["config"]
    config_path.unlink()
    config_path.mkdir()
    with pytest.raises(NodeError):
        load_config(files["data"])


def test_open_genesis_detects_a_swapped_genesis(files: dict[str, Path]) -> None:
    init(files)
    config = load_config(files["data"])
    other = make_genesis()
    other.members[0].name = "changed"
    paths(files["data"])["genesis"].write_text(genesis_json(other))
    with pytest.raises(NodeError) as caught:
        open_genesis(files["data"], config)
    assert "not the genesis this node was initialized with" in one_line(caught)


def test_open_genesis_of_a_broken_file(files: dict[str, Path]) -> None:
    init(files)
    config = load_config(files["data"])
    paths(files["data"])["genesis"].write_text("not json")
    with pytest.raises(NodeError) as caught:
        open_genesis(files["data"], config)
    assert "not a genesis file" in str(caught.value)


def test_check_store_genesis_refuses_another_networks_ledger(tmp_path: Path) -> None:
    store = Store(tmp_path / "l", create=True)
    try:
        with pytest.raises(NodeError, match="no genesis"):
            check_store_genesis(store, make_genesis())
        other = make_genesis()
        other.network = "tdx-other"
        Ledger.initialize(store, other)
        with pytest.raises(NodeError, match="another network's genesis"):
            check_store_genesis(store, make_genesis())
        check_store_genesis(store, other)
    finally:
        store.close()


def test_genesis_in_the_directory_is_a_copy_not_a_link(files: dict[str, Path]) -> None:
    """Editing the original genesis after init does not change the node's."""
    init(files)
    files["genesis"].write_text(genesis_json(ledger_pb2.Genesis(network="x")))
    assert open_genesis(files["data"], load_config(files["data"])) == make_genesis()
