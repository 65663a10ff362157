"""Identity: key generation, key files (mode 0600, no overwrite), passphrases, bad files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from tdx.sdk import ENVELOPE_DOMAIN, Identity, IdentityError, public_key_of_file
from tdx.sdk._crypto import verify


def test_generate_gives_distinct_working_keys() -> None:
    a, b = Identity.generate("de-customs"), Identity.generate("de-customs")
    assert a.public_key != b.public_key
    assert len(a.public_key) == 32 and len(a.seed) == 32
    signature = a.sign(ENVELOPE_DOMAIN, b"message")
    assert verify(a.public_key, ENVELOPE_DOMAIN, b"message", signature)
    assert not verify(b.public_key, ENVELOPE_DOMAIN, b"message", signature)


def test_from_seed_is_deterministic() -> None:
    a = Identity.from_seed(b"\x07" * 32, "x")
    b = Identity.from_seed(b"\x07" * 32, "y")
    assert a.public_key == b.public_key
    assert a.seed == b"\x07" * 32


@pytest.mark.parametrize("seed", [b"", b"\x01" * 31, b"\x01" * 33])
def test_from_seed_refuses_wrong_length(seed: bytes) -> None:
    with pytest.raises(IdentityError, match="32 bytes"):
        Identity.from_seed(seed, "x")


@pytest.mark.parametrize("member_id", ["", "has space", "a/b", "x" * 65, "semi;colon"])
def test_generate_refuses_bad_member_id(member_id: str) -> None:
    with pytest.raises(IdentityError, match="member id"):
        Identity.generate(member_id)


def test_member_id_rule_matches_the_schema() -> None:
    """A key made for a member id must be usable: the schema only allows ASCII ids."""
    with pytest.raises(IdentityError):
        Identity.generate("zoë-customs")


def test_save_writes_an_owner_only_file_and_load_round_trips(tmp_path: Path) -> None:
    me = Identity.generate("de-customs")
    path = tmp_path / "me.key"
    me.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = Identity.load(path)
    assert loaded.seed == me.seed
    assert loaded.member_id == "de-customs"
    assert public_key_of_file(path) == ("de-customs", me.public_key)


def test_save_ignores_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        Identity.generate("x").save(tmp_path / "k")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "me.key"
    first = Identity.generate("x")
    first.save(path)
    with pytest.raises(IdentityError, match="already exists"):
        Identity.generate("x").save(path)
    assert Identity.load(path).seed == first.seed


def test_save_into_missing_directory_is_an_identity_error(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="cannot create"):
        Identity.generate("x").save(tmp_path / "no" / "such" / "dir.key")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_load_refuses_group_or_world_readable_file(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "me.key"
    Identity.generate("x").save(path)
    path.chmod(mode)
    with pytest.raises(IdentityError, match="readable by others"):
        Identity.load(path)
    with pytest.raises(IdentityError, match="readable by others"):
        public_key_of_file(path)


def test_passphrase_round_trip_hides_the_seed(tmp_path: Path) -> None:
    me = Identity.generate("de-customs")
    path = tmp_path / "me.key"
    me.save(path, passphrase="correct horse")
    text = path.read_text()
    assert me.seed.hex() not in text
    assert "seed" not in json.loads(text)
    assert Identity.load(path, "correct horse").seed == me.seed
    # The public key is readable without the passphrase.
    assert public_key_of_file(path) == ("de-customs", me.public_key)
    with pytest.raises(IdentityError, match="wrong passphrase"):
        Identity.load(path, "wrong horse")
    with pytest.raises(IdentityError, match="passphrase-protected"):
        Identity.load(path)


def _write_key(path: Path, record: object, raw: bytes | None = None) -> Path:
    data = raw if raw is not None else json.dumps(record).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path


def _good_record() -> dict[str, object]:
    me = Identity.from_seed(b"\x05" * 32, "acme")
    return {"format": "tdx-ed25519-key/1", "member_id": "acme",
            "public_key": me.public_key.hex(), "seed": me.seed.hex()}


def test_hand_written_key_file_loads(tmp_path: Path) -> None:
    """The fixture record below is valid, so each corruption test breaks exactly one thing."""
    loaded = Identity.load(_write_key(tmp_path / "k", _good_record()))
    assert loaded.seed == b"\x05" * 32


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "something-else"}, "not a tdx key file"),
        ({"member_id": ""}, "no member_id"),
        ({"member_id": 7}, "no member_id"),
        ({"member_id": "bad id"}, "member id"),
        ({"seed": "zz" * 32}, "not hex"),
        ({"seed": "01" * 31}, "32 bytes"),
        ({"seed": None}, "missing"),
        ({"public_key": "00" * 32}, "does not match"),
    ],
)
def test_corrupt_key_fields_are_identity_errors(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    record = {**_good_record(), **change}
    with pytest.raises(IdentityError, match=message):
        Identity.load(_write_key(tmp_path / "k", record))


def test_key_file_without_seed_or_encryption(tmp_path: Path) -> None:
    record = _good_record()
    del record["seed"]
    with pytest.raises(IdentityError, match="neither seed nor encryption"):
        Identity.load(_write_key(tmp_path / "k", record))


@pytest.mark.parametrize(
    "raw", [b"", b"not json", b"\xff\xfe\x00garbage", b"[1, 2]", b'"a string"', b"{}"]
)
def test_key_files_that_are_not_key_files(tmp_path: Path, raw: bytes) -> None:
    with pytest.raises(IdentityError, match="not a tdx key file"):
        Identity.load(_write_key(tmp_path / "k", None, raw))


def test_missing_key_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="no such key file"):
        Identity.load(tmp_path / "absent.key")
    (tmp_path / "d").mkdir(mode=0o700)
    with pytest.raises(IdentityError, match="cannot read"):
        Identity.load(tmp_path / "d")


@pytest.mark.parametrize(
    "encryption",
    [
        "not a dict",
        {"salt": "00" * 16},
        {"ciphertext": "00" * 72},
        {"salt": "zz", "ciphertext": "00" * 72},
        {"salt": "00" * 16, "ciphertext": "00" * 72},
        {"salt": "00" * 16, "ciphertext": "00" * 3},
    ],
)
def test_corrupt_encryption_block_is_identity_error(tmp_path: Path, encryption: object) -> None:
    record = _good_record()
    del record["seed"]
    record["encryption"] = encryption
    with pytest.raises(IdentityError):
        Identity.load(_write_key(tmp_path / "k", record), passphrase="pw")


def test_public_key_of_file_checks_the_key(tmp_path: Path) -> None:
    record = {**_good_record(), "public_key": "00" * 31}
    with pytest.raises(IdentityError, match="not 32 bytes"):
        public_key_of_file(_write_key(tmp_path / "k", record))
