"""``tdx doc proof`` and ``tdx doc verify``: fetch a document's proof, check it offline.

A proof (envelope, Merkle paths, certified block header, validator signatures) checks
against nothing but the network's genesis file. The commands join the ``tdx doc`` group
in ``main.py``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
from google.protobuf import json_format
from tdx.sdk import Client, ProofError, ledger_pb2, load_genesis, verify_proof

from ._output import Failure, Output, TdxCommand, read_text, write_atomically
from ._params import json_option, node_option
from .doc import _document_id


@click.command(cls=TdxCommand)
@click.argument("doc_id", metavar="ID", callback=_document_id)
@click.option("--out", required=True, metavar="FILE",
              help="Where to write the proof (protobuf JSON); `-` for stdout.")
@node_option
@json_option
def proof(doc_id: str, out: str, node: str, as_json: bool) -> None:
    """Fetch a document's proof, which anyone can check offline with the genesis.

    The proof holds the signed envelope, its result, the block header, the Merkle paths
    and the validators' signatures. An existing file is replaced atomically.

    \b
    Example:
      tdx doc proof 3f1c...e9 --out proof.json
      tdx doc verify --proof proof.json --genesis genesis.json
    """
    if out == "-" and as_json:
        raise click.UsageError("--out - already prints the proof as JSON; drop --json")
    with Client(node) as client:
        answer = client.get_proof(doc_id)
    text = json_format.MessageToJson(answer, preserving_proto_field_name=True, indent=2) + "\n"
    if out == "-":
        click.echo(text, nl=False)
        return
    write_atomically(Path(out), text, replace=True)
    header = ledger_pb2.BlockHeader.FromString(answer.header)
    data = {"document_id": doc_id, "out": out, "height": header.height,
            "signatures": len(answer.signatures)}
    output = Output(as_json)
    output.emit(data, lambda: output.fields([
        ("wrote", out), ("document id", doc_id), ("height", header.height),
        ("signatures", len(answer.signatures)),
    ]))


@click.command(cls=TdxCommand)
@click.option("--proof", "proof_file", required=True, metavar="FILE",
              help="A proof written by `tdx doc proof` (`-` for stdin).")
@click.option("--genesis", "genesis_file", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="The network's genesis file.")
@json_option
def verify(proof_file: str, genesis_file: Path, as_json: bool) -> None:
    """Check a document proof offline, with nothing but the genesis file.

    Checks the envelope's signature, its place and its result's place in the block, the
    block's network, and that a majority of the genesis validators signed the block.
    Exits 1 with the first check that fails.

    \b
    Example:
      tdx doc verify --proof proof.json --genesis genesis.json
    """
    network = load_genesis(genesis_file)
    document_proof = ledger_pb2.DocumentProof()
    label = "stdin" if proof_file == "-" else proof_file
    try:
        json_format.Parse(read_text(proof_file), document_proof)
    except json_format.ParseError as exc:
        raise Failure(f"{label}: not a document proof: {exc}") from None
    try:
        verified = verify_proof(document_proof, network)
    except ProofError as exc:
        raise Failure(f"proof does not verify: {exc}", code="PROOF_INVALID") from None
    data = {"verified": True, "network": network.network, **dataclasses.asdict(verified)}
    output = Output(as_json)
    output.emit(data, lambda: output.fields([
        ("verified", f"document {verified.document_id}"),
        ("kind", verified.kind), ("issuer", verified.issuer),
        ("network", network.network), ("height", verified.height),
        ("block hash", verified.block_hash),
        ("certified", f"signed by {verified.signatures} of {verified.validators} validators"),
        ("result", "accepted" if verified.accepted else f"rejected ({verified.reason})"),
    ]))
