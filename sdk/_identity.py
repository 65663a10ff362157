"""A member's Ed25519 identity and its key file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.signing
import nacl.utils

from ._crypto import sign
from ._errors import IdentityError

KEY_FILE_FORMAT = "tdx-ed25519-key/1"


@dataclass(frozen=True)
class Identity:
    """An Ed25519 signing key and the member id it acts as.

    ``member_id`` is the id this key is registered under in the genesis or by governance;
    documents built with this identity name it as their issuer.
    """

    signing_key: nacl.signing.SigningKey
    member_id: str

    @classmethod
    def generate(cls, member_id: str) -> Identity:
        """Return a new identity with a fresh random key."""
        _check_member_id(member_id)
        return cls(nacl.signing.SigningKey.generate(), member_id)

    @classmethod
    def from_seed(cls, seed: bytes, member_id: str) -> Identity:
        """Return the identity whose 32-byte Ed25519 seed is ``seed``."""
        _check_member_id(member_id)
        if len(seed) != 32:
            raise IdentityError("an Ed25519 seed is 32 bytes")
        return cls(nacl.signing.SigningKey(seed), member_id)

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        return bytes(self.signing_key.verify_key)

    @property
    def seed(self) -> bytes:
        """The 32-byte private seed. Keep it secret."""
        return bytes(self.signing_key)

    def sign(self, domain: bytes, message: bytes) -> bytes:
        """Sign ``domain || message``."""
        return sign(self.signing_key, domain, message)

    def save(self, path: str | os.PathLike[str], passphrase: str | None = None) -> None:
        """Write the key to a new file readable only by its owner (mode 0600).

        With a passphrase the seed is encrypted (Argon2id key derivation, XSalsa20-Poly1305).
        An existing file is never overwritten.
        """
        record: dict[str, object] = {
            "format": KEY_FILE_FORMAT,
            "member_id": self.member_id,
            "public_key": self.public_key.hex(),
        }
        if passphrase:
            salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
            key = _derive(passphrase, salt)
            box = nacl.secret.SecretBox(key)
            record["encryption"] = {
                "kdf": "argon2id",
                "salt": salt.hex(),
                "cipher": "xsalsa20poly1305",
                "ciphertext": bytes(box.encrypt(self.seed)).hex(),
            }
        else:
            record["seed"] = self.seed.hex()
        data = (json.dumps(record, indent=2) + "\n").encode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise IdentityError(f"{path}: already exists; refusing to overwrite a key") from None
        except OSError as exc:
            raise IdentityError(f"{path}: cannot create key file: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())

    @classmethod
    def load(cls, path: str | os.PathLike[str], passphrase: str | None = None) -> Identity:
        """Read a key file written by :meth:`save`.

        Raises IdentityError when the file is missing, malformed, readable by others than
        its owner, encrypted without a passphrase given, or the passphrase is wrong.
        """
        record = read_key_file(path)
        member_id = record.get("member_id")
        if not isinstance(member_id, str) or not member_id:
            raise IdentityError(f"{path}: key file has no member_id")
        if "seed" in record:
            seed = _hex_field(record, "seed", path)
        elif "encryption" in record:
            if not passphrase:
                raise IdentityError(f"{path}: key is passphrase-protected; give the passphrase")
            enc = record["encryption"]
            if not isinstance(enc, dict):
                raise IdentityError(f"{path}: malformed encryption block")
            salt = _hex_field(enc, "salt", path)
            ciphertext = _hex_field(enc, "ciphertext", path)
            try:
                seed = nacl.secret.SecretBox(_derive(passphrase, salt)).decrypt(ciphertext)
            except nacl.exceptions.CryptoError:
                raise IdentityError(f"{path}: wrong passphrase") from None
        else:
            raise IdentityError(f"{path}: key file has neither seed nor encryption")
        identity = cls.from_seed(seed, member_id)
        expected = record.get("public_key")
        if expected is not None and expected != identity.public_key.hex():
            raise IdentityError(f"{path}: public_key does not match the seed")
        return identity


def read_key_file(path: str | os.PathLike[str]) -> dict[str, object]:
    """Read and parse a key file without decrypting it, checking its permissions."""
    p = Path(path)
    try:
        st = p.stat()
        raw = p.read_bytes()
    except FileNotFoundError:
        raise IdentityError(f"{path}: no such key file") from None
    except OSError as exc:
        raise IdentityError(f"{path}: cannot read key file: {exc.strerror}") from None
    if st.st_mode & 0o077:
        raise IdentityError(
            f"{path}: key file is readable by others (mode {st.st_mode & 0o777:o}); "
            "run chmod 600 on it"
        )
    try:
        record = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise IdentityError(f"{path}: not a tdx key file (not JSON)") from None
    if not isinstance(record, dict) or record.get("format") != KEY_FILE_FORMAT:
        raise IdentityError(f"{path}: not a tdx key file (format is not {KEY_FILE_FORMAT})")
    return record


def public_key_of_file(path: str | os.PathLike[str]) -> tuple[str, bytes]:
    """Return (member_id, public key) of a key file; needs no passphrase."""
    record = read_key_file(path)
    member_id = record.get("member_id")
    if not isinstance(member_id, str) or not member_id:
        raise IdentityError(f"{path}: key file has no member_id")
    key = _hex_field(record, "public_key", path)
    if len(key) != 32:
        raise IdentityError(f"{path}: public_key is not 32 bytes")
    return member_id, key


def _hex_field(record: dict[str, object], name: str, path: str | os.PathLike[str]) -> bytes:
    value = record.get(name)
    if not isinstance(value, str):
        raise IdentityError(f"{path}: field {name} is missing")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise IdentityError(f"{path}: field {name} is not hex") from None


def _derive(passphrase: str, salt: bytes) -> bytes:
    return bytes(
        nacl.pwhash.argon2id.kdf(
            nacl.secret.SecretBox.KEY_SIZE,
            passphrase.encode(),
            salt,
            opslimit=nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
            memlimit=nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE,
        )
    )


def _check_member_id(member_id: str) -> None:
    from ._schema import MEMBER_ID_PATTERN

    if not MEMBER_ID_PATTERN.fullmatch(member_id):
        raise IdentityError(
            f"member id {member_id!r} must be 1-64 ASCII letters, digits, '-', '_' or '.'"
        )
