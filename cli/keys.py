"""``tdx keys``: create a member's Ed25519 key file and show what it holds (never the seed)."""

from __future__ import annotations

from pathlib import Path

import click
from tdx.sdk import (
    ApiError,
    Client,
    Identity,
    IdentityError,
    key_rotation,
    public_key_of_file,
    seal,
)

from ._output import Failure, Output, TdxGroup
from ._params import (
    PASSPHRASE_ENV,
    json_option,
    key_is_encrypted,
    load_identity,
    new_passphrase,
    node_option,
)


@click.group(cls=TdxGroup)
def keys() -> None:
    """Create and inspect member key files.

    A key file holds one member's Ed25519 signing key and the member id it acts as. It is
    created readable only by its owner (mode 0600) and is never overwritten.

    \b
    Example:
      tdx keys generate --out customs-de.key --encrypt
      tdx keys show customs-de.key
      tdx keys rotate --key customs-de.key --out customs-de.2027.key
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


@keys.command()
@click.option("--key", "key_file", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Your current key file (it signs the rotation).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The new key file to create; it must not exist.")
@click.option("--encrypt", is_flag=True,
              help=f"Protect the new key with a passphrase (env {PASSPHRASE_ENV}).")
@node_option
@json_option
def rotate(key_file: Path, out: Path, encrypt: bool, node: str, as_json: bool) -> None:
    """Replace your member key: create a new key file and submit a key rotation.

    The rotation is signed by the current key and carries the new key's signature over
    your member id and the old key. The new key signs from the block after the one that
    records the rotation (this command returns once that block is on disk); the old key
    signs through that block, so nothing stops in between. Documents signed before stay
    verifiable. The new file is written before anything is sent, so it is never lost; if
    the rotation is refused it is not your key and may be deleted. A validator restarts
    its node with the new key.

    \b
    Example:
      tdx keys rotate --key customs-de.key --out customs-de.2027.key --node 127.0.0.1:7400
    """
    old = load_identity(key_file)
    if out.exists():
        raise Failure(f"{out}: already exists; refusing to overwrite a key")
    new = Identity.generate(old.member_id)
    passphrase = new_passphrase() if encrypt else None
    with Client(node) as client:
        network = client.status().network
        new.save(out, passphrase)
        try:
            receipt = client.submit(seal(old, key_rotation(network, old, new)))
        except ApiError as exc:
            raise Failure(f"{exc.code}: {exc.message} ({out} was written but is not your "
                          "key; delete it)") from None
    data = {"member_id": old.member_id, "old_public_key": old.public_key.hex(),
            "new_public_key": new.public_key.hex(), "file": str(out),
            "encrypted": bool(passphrase), "document_id": receipt.document_id,
            "height": receipt.height, "valid_from_height": receipt.height + 1}
    output = Output(as_json)
    output.emit(data, lambda: output.fields([
        ("rotated", old.member_id), ("old key", old.public_key.hex()),
        ("new key", new.public_key.hex()), ("new key file", out),
        ("recorded in block", receipt.height),
        ("new key signs from block", receipt.height + 1),
    ]))
