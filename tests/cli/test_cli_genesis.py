"""``tdx genesis create``, ``add-member`` and ``show``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cli_testing import Invoke, as_json
from tdx.sdk import genesis_hash, load_genesis, public_key_of_file


def test_create_add_members_and_load(invoke: Invoke, tmp_path: Path,
                                     make_key: Callable[..., Path]) -> None:
    path = tmp_path / "g.json"
    created = as_json(invoke("genesis", "create", "--out", str(path), "--network", "tdx-dev",
                             "--json"))
    assert created["network"] == "tdx-dev"
    de, nl = make_key("customs-de"), make_key("trader-nl")
    invoke("genesis", "add-member", str(path), "--name", "Zoll DE", "--key", str(de),
           "--roles", "customs,issuer", "--country", "de", "--validator",
           "--address", "127.0.0.1:7400", "--peer-address", "127.0.0.1:7500")
    added = as_json(invoke("genesis", "add-member", str(path), "--name", "Trader NL",
                           "--key", str(nl), "--roles", "trader", "--country", "NL",
                           "--id", "trader-nl", "--json"))
    assert added["members"] == 2
    assert added["member"]["public_key"] == public_key_of_file(nl)[1].hex()

    genesis = load_genesis(path)
    assert genesis.network == "tdx-dev"
    first, second = genesis.members
    assert (first.id, first.country_code, list(first.roles)) == ("customs-de", "DE",
                                                                 ["customs", "issuer"])
    assert first.validator and first.api_address == "127.0.0.1:7400"
    assert first.peer_address == "127.0.0.1:7500"
    assert (second.id, second.validator) == ("trader-nl", False)

    shown = as_json(invoke("genesis", "show", str(path), "--json"))
    assert shown["hash"] == genesis_hash(genesis).hex()
    assert shown["ready"] is True
    assert [m["id"] for m in shown["members"]] == ["customs-de", "trader-nl"]
    human = invoke("genesis", "show", str(path)).stdout
    assert "customs-de" in human and "Trader NL" in human and "tdx-dev" in human


def test_create_refuses_to_overwrite(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    path.write_text("precious")
    result = invoke("genesis", "create", "--out", str(path), "--network", "x", code=1)
    assert "already exists" in result.stderr
    assert path.read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["g.json"]  # no temporary file left


def test_create_refuses_a_bad_network_name(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("genesis", "create", "--out", str(tmp_path / "g.json"), "--network",
                    "Bad Name", code=1)
    assert "network name" in result.stderr
    assert not (tmp_path / "g.json").exists()


def test_show_says_when_no_validator_yet(invoke: Invoke,
                                         genesis_with: Callable[..., Path]) -> None:
    path = genesis_with(("trader-a", "trader", False))
    result = invoke("genesis", "show", str(path))
    assert "no member is a validator" in result.stdout
    assert as_json(invoke("genesis", "show", str(path), "--json"))["ready"] is False


def test_duplicate_id_and_duplicate_key_are_refused(
        invoke: Invoke, tmp_path: Path, genesis_with: Callable[..., Path],
        make_key: Callable[..., Path]) -> None:
    path = genesis_with(("customs-de", "customs", True))
    before = path.read_text()
    key = tmp_path / "customs-de.key"
    again = invoke("genesis", "add-member", str(path), "--name", "Again", "--key", str(key),
                   "--roles", "customs", "--country", "DE", "--id", "other", code=1)
    assert "already the key of member 'customs-de'" in again.stderr
    other = make_key("other")
    same_id = invoke("genesis", "add-member", str(path), "--name", "Same id", "--key",
                     str(other), "--roles", "customs", "--country", "DE", "--id",
                     "customs-de", code=1)
    assert "already in the genesis" in same_id.stderr
    assert path.read_text() == before


def test_usage_errors_exit_2(invoke: Invoke, tmp_path: Path,
                             genesis_with: Callable[..., Path]) -> None:
    path = genesis_with(("customs-de", "customs", True))
    key = tmp_path / "customs-de.key"
    base = ["genesis", "add-member", str(path), "--name", "N", "--key", str(key)]
    bad_role = invoke(*base, "--roles", "customs,pirate", "--country", "DE", code=2)
    assert "unknown role 'pirate'" in bad_role.stderr
    assert "--country" in invoke(*base, "--roles", "customs", code=2).stderr
    assert "alpha-2" in invoke(*base, "--roles", "customs", "--country", "DEU", code=2).stderr
    assert "HOST:PORT" in invoke(*base, "--roles", "customs", "--country", "DE",
                                 "--address", "nowhere", code=2).stderr


def test_add_member_to_a_broken_or_missing_file(invoke: Invoke, tmp_path: Path,
                                                make_key: Callable[..., Path]) -> None:
    key = make_key("m")
    args = ["--name", "N", "--key", str(key), "--roles", "customs", "--country", "DE"]
    missing = invoke("genesis", "add-member", str(tmp_path / "none.json"), *args, code=1)
    assert "no such file" in missing.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "not a genesis file" in invoke("genesis", "add-member", str(broken), *args,
                                          code=1).stderr
    assert broken.read_text() == "{not json"


def test_id_other_than_the_key_files_warns(invoke: Invoke, tmp_path: Path,
                                           genesis_with: Callable[..., Path],
                                           make_key: Callable[..., Path]) -> None:
    path = genesis_with(("customs-de", "customs", True))
    key = make_key("keyname")
    result = invoke("genesis", "add-member", str(path), "--name", "N", "--key", str(key),
                    "--roles", "trader", "--country", "FR", "--id", "trader-fr")
    assert "warning:" in result.stderr and "'keyname'" in result.stderr
    assert [m.id for m in load_genesis(path).members] == ["customs-de", "trader-fr"]
