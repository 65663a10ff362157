"""``tdx keys``: create a member's Ed25519 key file and show what it holds (never the seed)."""

from __future__ import annotations

from pathlib import Path

import click
from tdx.sdk import Identity, IdentityError, public_key_of_file

from ._output import Failure, Output, TdxGroup
from ._params import PASSPHRASE_ENV, json_option, key_is_encrypted, new_passphrase


@click.group(cls=TdxGroup)
def keys() -> None:
    """Create and inspect member key files.

    A key file holds one member's Ed25519 signing key and the member id it acts as. It is
    created readable only by its owner (mode 0600) and is never overwritten.

    \b
    Example:
      tdx keys generate --out customs-de.key --encrypt
      tdx keys show customs-de.key
    """


@keys.command()
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The key file to create; it must not exist.")
@click.option("--member", "member_id", metavar="ID",
              help="Member id the key acts as [default: the file name without its suffix].")
@click.option("--encrypt", is_flag=True,
              help=f"Protect the key with a passphrase (prompted twice, or env {PASSPHRASE_ENV}).")
@json_option
def generate(out: Path, member_id: str | None, encrypt: bool, as_json: bool) -> None:
    """Create a new key file with a fresh Ed25519 key.

    \b
    Example:
      tdx keys generate --out customs-de.key
      tdx keys generate --out keys/de.key --member customs-de --encrypt
    """
    member = member_id or out.stem
    try:
        identity = Identity.generate(member)
    except IdentityError as exc:
        hint = "" if member_id else " (it comes from the file name; give --member)"
        raise click.BadParameter(f"{exc}{hint}", param_hint="--member") from None
    if out.exists():
        raise Failure(f"{out}: already exists; refusing to overwrite a key")
    passphrase = new_passphrase() if encrypt else None
    identity.save(out, passphrase)
    data = {"file": str(out), "member_id": identity.member_id,
            "public_key": identity.public_key.hex(), "encrypted": bool(passphrase)}
    output = Output(as_json)
    output.emit(data, lambda: output.fields([
        ("created", out), ("member id", identity.member_id),
        ("public key", identity.public_key.hex()),
        ("encrypted", "yes" if passphrase else "no (use --encrypt to protect it)"),
    ]))


@keys.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
def show(file: Path, as_json: bool) -> None:
    """Show a key file's member id, public key and whether it is encrypted.

    Needs no passphrase and never prints the private seed.

    \b
    Example:
      tdx keys show customs-de.key
    """
    member_id, public_key = public_key_of_file(file)
    encrypted = key_is_encrypted(file)
    data = {"file": str(file), "member_id": member_id, "public_key": public_key.hex(),
            "encrypted": encrypted}
    output = Output(as_json)
    output.emit(data, lambda: output.fields([
        ("file", file), ("member id", member_id), ("public key", public_key.hex()),
        ("encrypted", "yes" if encrypted else "no"),
    ]))
