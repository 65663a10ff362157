"""``tdx keys generate`` and ``tdx keys show``."""

from __future__ import annotations

import stat
from pathlib import Path

from cli_testing import Invoke, as_json
from tdx.sdk import Identity


def test_generate_writes_an_owner_only_key_named_after_the_file(invoke: Invoke,
                                                                tmp_path: Path) -> None:
    path = tmp_path / "customs-de.key"
    result = invoke("keys", "generate", "--out", str(path), "--json")
    data = as_json(result)
    assert data["member_id"] == "customs-de"
    assert data["encrypted"] is False
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    identity = Identity.load(path)
    assert identity.member_id == "customs-de"
    assert data["public_key"] == identity.public_key.hex()


def test_generate_with_member_option_and_human_output(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "a.key"
    result = invoke("keys", "generate", "--out", str(path), "--member", "chamber-de")
    assert "chamber-de" in result.stdout
    assert Identity.load(path).member_id == "chamber-de"


def test_generate_refuses_to_overwrite(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    invoke("keys", "generate", "--out", str(path))
    before = path.read_bytes()
    result = invoke("keys", "generate", "--out", str(path), code=1)
    assert "already exists" in result.stderr
    assert path.read_bytes() == before


def test_generate_refuses_a_bad_member_id(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke("keys", "generate", "--out", str(tmp_path / "bad id!.key"), code=2)
    assert "--member" in result.stderr
    assert not (tmp_path / "bad id!.key").exists()


def test_encrypted_key_with_prompt_then_show_and_load(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "enc.key"
    invoke("keys", "generate", "--out", str(path), "--encrypt",
           input="correct horse\ncorrect horse\n")
    assert "correct horse" not in path.read_text()
    shown = as_json(invoke("keys", "show", str(path), "--json"))
    assert shown["encrypted"] is True
    assert Identity.load(path, "correct horse").public_key.hex() == shown["public_key"]


def test_encrypted_key_prompt_must_match(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "enc.key"
    result = invoke("keys", "generate", "--out", str(path), "--encrypt",
                    input="one\ntwo\n", code=1)
    assert "do not match" in result.stderr
    assert not path.exists()


def test_encrypted_key_from_env(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "env.key"
    invoke("keys", "generate", "--out", str(path), "--encrypt",
           env={"TDX_KEY_PASSPHRASE": "from-env"})
    assert Identity.load(path, "from-env").member_id == "env"


def test_wrong_passphrase_is_a_one_line_failure(invoke: Invoke, tmp_path: Path) -> None:
    """A command that signs (doc submit) asks for the passphrase and refuses a wrong one."""
    path = tmp_path / "enc.key"
    invoke("keys", "generate", "--out", str(path), "--encrypt",
           env={"TDX_KEY_PASSPHRASE": "right"})
    doc = tmp_path / "d.json"
    doc.write_text('{"kind": "invoice", "content": {}}')
    result = invoke("doc", "submit", str(doc), "--key", str(path), input="wrong\n", code=1)
    assert "wrong passphrase" in result.stderr


def test_show_never_prints_the_seed(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "plain.key"
    invoke("keys", "generate", "--out", str(path))
    seed = Identity.load(path).seed.hex()
    human = invoke("keys", "show", str(path))
    machine = invoke("keys", "show", str(path), "--json")
    assert seed not in human.output and seed not in machine.output
    assert "plain" in human.stdout and "no" in human.stdout
    assert set(as_json(machine)) == {"file", "member_id", "public_key", "encrypted"}


def test_show_refuses_a_key_readable_by_others(invoke: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "open.key"
    invoke("keys", "generate", "--out", str(path))
    path.chmod(0o644)
    result = invoke("keys", "show", str(path), code=1)
    assert "chmod 600" in result.stderr


def test_show_missing_and_malformed_files(invoke: Invoke, tmp_path: Path) -> None:
    assert "no such key file" in invoke("keys", "show", str(tmp_path / "nope"), code=1).stderr
    junk = tmp_path / "junk.key"
    junk.write_text("not json")
    junk.chmod(0o600)
    assert "not a tdx key file" in invoke("keys", "show", str(junk), code=1).stderr
