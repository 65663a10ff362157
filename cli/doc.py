"""``tdx doc``: document templates, submitting signed documents, reading them back, proofs."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from tdx.sdk import (
    KINDS,
    AlreadyExists,
    ApiError,
    Client,
    DocumentError,
    Identity,
    NotFound,
    Rejected,
    SchemaError,
    body_from_json,
    body_to_json,
    check_body,
    decode_body,
    document_id,
    documents_pb2,
    kind_of,
    ledger_pb2,
    open_confidential,
    open_envelope,
    seal,
    seal_confidential,
)

from ._output import Failure, Output, TdxGroup, read_json
from ._params import json_option, load_identity, node_option

KIND_CHOICE = click.Choice([k.name for k in KINDS])
# Submissions of more documents than this show a progress bar (on a terminal).
PROGRESS_FROM = 20
# Documents per submit_many call while a progress bar is shown.
PROGRESS_STEP = 128


@click.group(cls=TdxGroup)
def doc() -> None:
    """Write, submit, read and prove documents.

    A document file is JSON: {"kind", "ucr", "recipients", "content"}, as `tdx doc template
    KIND` prints it. `submit` signs it with your key and sends it to a node; `get`, `query`
    and `proof` read the ledger; `verify` checks a proof offline against the genesis.

    \b
    Example:
      tdx doc template export_declaration > decl.json
      tdx doc submit decl.json --key customs-de.key --node 127.0.0.1:7400
      tdx doc submit invoice.json --key trader.key --encrypt-for customs-ng
      tdx doc query --ucr 4DE123456789-INV-2026-0001
      tdx doc proof <ID> --out proof.json
      tdx doc verify --proof proof.json --genesis genesis.json
    """


# -- submit -----------------------------------------------------------------------------

@doc.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--kind", type=KIND_CHOICE, metavar="KIND",
              help="The documents' kind, when the files do not say it (see `doc template "
                   "--list`).")
@click.option("--key", "key_file", type=click.Path(dir_okay=False, path_type=Path),
              envvar="TDX_KEY", required=True,
              help="Your member key file, to sign with (env TDX_KEY).")
@click.option("--encrypt-for", "encrypt_for", metavar="MEMBER[,MEMBER]",
              help="Make each document confidential: encrypt its content for these members "
                   "(and you); the node never sees it in clear.")
@click.option("--public", "public", metavar="FIELD[,FIELD]", default="",
              help="With --encrypt-for: content fields to leave public (see "
                   "tdx.sdk.CONFIDENTIAL_PUBLIC_FIELDS); the UCR is always public.")
@node_option
@json_option
def submit(files: Sequence[str], kind: str | None, key_file: Path, encrypt_for: str | None,
           public: str, node: str, as_json: bool) -> None:
    """Sign documents with your key and submit them to a node.

    Each FILE holds one document or a JSON array of documents; `-` reads stdin. Every
    document is built and schema-checked before anything is sent. One document prints its
    receipt (id, block height, block hash, result); several print one row each (with
    --json: an array) and go in batches. Exits 1 unless every document was accepted.

    \b
    Example:
      tdx doc submit decl.json --key customs-de.key --node 127.0.0.1:7400
      tdx doc template invoice | tdx doc submit - --key trader.key
      tdx doc submit batch/*.json --key customs-de.key --json
      tdx doc submit invoice.json --key trader.key --encrypt-for customs-ng --public hs_codes
    """
    if public and not encrypt_for:
        raise click.UsageError("--public goes with --encrypt-for")
    sources = list(_read_documents(files))
    if not sources:
        raise Failure("no documents to submit (the files hold empty arrays)")
    identity = load_identity(key_file)
    output = Output(as_json)
    with Client(node) as client:
        network = client.status().network
        readers = _recipient_keys(client, encrypt_for) if encrypt_for else None
        fields = [f.strip() for f in public.split(",") if f.strip()]
        envelopes = [_sealed(identity, network, label, document, kind, readers, fields)
                     for label, document in sources]
        if len(envelopes) == 1:
            _submit_one(client, envelopes[0], output)
        else:
            _submit_many(client, [label for label, _ in sources], envelopes, output)


def _read_documents(files: Sequence[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (label, document) for each document in the files, in order."""
    if list(files).count("-") > 1:
        raise click.UsageError("stdin (-) can be read only once")
    for name in files:
        label = "stdin" if name == "-" else name
        loaded = read_json(name)
        items = loaded if isinstance(loaded, list) else [loaded]
        for i, item in enumerate(items):
            where = f"{label}[{i}]" if isinstance(loaded, list) else label
            if not isinstance(item, dict):
                raise Failure(f"{where}: a document is a JSON object "
                              '{"kind", "ucr", "recipients", "content"}')
            yield where, item


def _recipient_keys(client: Client, members: str) -> dict[str, bytes]:
    """The current public keys of the comma-separated member ids."""
    keys: dict[str, bytes] = {}
    for member_id in (m.strip() for m in members.split(",")):
        if not member_id:
            continue
        try:
            keys[member_id] = bytes(client.get_member(member_id).member.public_key)
        except NotFound:
            raise Failure(f"--encrypt-for: no member {member_id!r}") from None
        if not keys[member_id]:
            raise Failure(f"--encrypt-for: member {member_id!r} was removed")
    return keys


def _sealed(identity: Identity, network: str, label: str, document: dict[str, Any],
            kind: str | None, readers: dict[str, bytes] | None = None,
            public: Sequence[str] = ()) -> documents_pb2.Envelope:
    """Build, sign and schema-check one document; errors name the file.

    With ``readers`` the content is sealed for them (a confidential document).
    """
    try:
        body = body_from_json(network, document, kind)
        if readers is not None:
            body = seal_confidential(identity, network, kind_of(body), document["content"],
                                     readers, public, ucr=body.ucr)
        envelope = seal(identity, body)
        check_body(body, network)
    except SchemaError as exc:
        raise Failure(f"{label}: {exc}") from None
    return envelope


def _submit_one(client: Client, envelope: documents_pb2.Envelope, output: Output) -> None:
    try:
        receipt = client.submit(envelope)
    except (Rejected, AlreadyExists) as exc:
        if exc.receipt is None:
            raise
        _show_receipt(exc.receipt, output)
        why = "already on the ledger" if isinstance(exc, AlreadyExists) else exc.message
        reason = exc.reason or exc.receipt.result.code
        raise Failure(f"{exc.code}: {why}", code=exc.code, reason=reason) from None
    _show_receipt(receipt, output)


def _show_receipt(receipt: ledger_pb2.Receipt, output: Output) -> None:
    output.emit(receipt_json(receipt), lambda: output.fields([
        ("document id", receipt.document_id), ("height", receipt.height),
        ("block hash", receipt.block_hash.hex()), ("position", receipt.position),
        ("result", result_text(receipt.result)),
        *(("notice", notice) for notice in receipt.result.notices),
    ]))


def _submit_many(client: Client, labels: list[str], envelopes: list[documents_pb2.Envelope],
                 output: Output) -> None:
    outcomes: list[ledger_pb2.Receipt | ApiError] = []
    stderr = Console(stderr=True)
    show_bar = not output.as_json and len(envelopes) >= PROGRESS_FROM and stderr.is_terminal
    with Progress(TextColumn("submitting"), BarColumn(), MofNCompleteColumn(),
                  console=stderr, disable=not show_bar, transient=True) as progress:
        task = progress.add_task("submit", total=len(envelopes))
        step = PROGRESS_STEP if show_bar else len(envelopes)
        for start in range(0, len(envelopes), step):
            outcomes.extend(client.submit_many(envelopes[start:start + step]))
            progress.update(task, completed=len(outcomes))
    rows: list[dict[str, Any]] = []
    for label, envelope, outcome in zip(labels, envelopes, outcomes, strict=True):
        row: dict[str, Any] = {"source": label}
        if isinstance(outcome, ApiError):
            row["document_id"] = document_id(envelope.body)
            if outcome.receipt is not None:
                row.update(receipt_json(outcome.receipt))
            row["error"] = {"code": outcome.code, "message": outcome.message}
        else:
            row.update(receipt_json(outcome))
        rows.append(row)
    output.emit(rows, lambda: output.table(
        None, ["source", "document id", "height", "result"],
        ([r["source"], r["document_id"], r.get("height", ""), _row_result(r)] for r in rows),
        no_wrap=["document id"]))
    failed = sum(1 for r in rows if "error" in r or r["result"]["status"] != "accepted")
    if failed:
        raise Failure(f"{failed} of {len(rows)} documents were not accepted")


def _row_result(row: dict[str, Any]) -> str:
    if "error" in row:
        return f"{row['error']['code']}: {row['error']['message']}"
    result: dict[str, Any] = row["result"]
    if result["status"] == "accepted":
        return "accepted"
    return f"{result['status']} ({result['code']}: {result['reason']})"


# -- get, query -------------------------------------------------------------------------

def _document_id(ctx: click.Context, param: click.Parameter, value: str) -> str:
    text = value.strip().lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise click.BadParameter("a document id is 64 hex digits", ctx, param)
    return text


@doc.command()
@click.argument("doc_id", metavar="ID", callback=_document_id)
@click.option("--decrypt-with", "decrypt_with",
              type=click.Path(dir_okay=False, path_type=Path),
              help="A recipient's key file: show a confidential document's content in clear "
                   "(decrypted here; the node never has it).")
@node_option
@json_option
def get(doc_id: str, decrypt_with: Path | None, node: str, as_json: bool) -> None:
    """Show one document: kind, issuer, UCR, block, result and content.

    The envelope's signature and id are checked here too, so what is shown is what its
    signer signed.

    \b
    Example:
      tdx doc get 3f1c...e9 --node 127.0.0.1:7400
      tdx doc get 3f1c...e9 --json | jq .document.content
      tdx doc get 3f1c...e9 --decrypt-with customs-ng.key
    """
    with Client(node) as client:
        record = client.get(doc_id)
    data = record_json(record)
    if decrypt_with is not None:
        if record.kind != "confidential":
            raise Failure(f"document {doc_id} is not confidential; drop --decrypt-with")
        inner = open_confidential(load_identity(decrypt_with), decode_body(record.envelope.body))
        data["decrypted"] = True
        data["document"] = body_to_json(inner)
    output = Output(as_json)

    def human() -> None:
        output.fields([
            ("document id", data["document_id"]), ("kind", data["kind"]),
            ("issuer", data["issuer"]), ("ucr", data["ucr"] or "-"),
            ("recipients", ", ".join(data["recipients"]) or "-"),
            ("created", _time(data["created_ms"])), ("signer", data["signer"]),
            ("signature", "valid" if data["signature_valid"] else "INVALID"),
            ("height", data["receipt"]["height"]),
            ("block hash", data["receipt"]["block_hash"]),
            ("result", result_text(record.receipt.result)),
        ])
        output.line("document:")
        output.line(_indented_json(data["document"]))

    output.emit(data, human)


@doc.command()
@click.option("--ucr", help="Documents of this consignment (Unique Consignment Reference).")
@click.option("--kind", type=KIND_CHOICE, metavar="KIND", help="Documents of this kind.")
@click.option("--issuer", metavar="ID", help="Documents issued by this member.")
@click.option("--limit", type=click.IntRange(min=0), default=100, show_default=True,
              help="At most this many documents (0: all).")
@node_option
@json_option
def query(ucr: str | None, kind: str | None, issuer: str | None, limit: int, node: str,
          as_json: bool) -> None:
    """List documents by UCR, kind or issuer (all that are given must match), oldest first.

    With --ucr it tells a consignment's story: every document with that UCR and the
    notices its application raised (IP-rights alert matches, AEO flags, temperature
    excursions, broken seals). `tdx doc story --ucr` adds the consignment's state.

    \b
    Example:
      tdx doc query --ucr 4DE123456789-INV-2026-0001
      tdx doc query --kind origin_certificate --issuer chamber-de --limit 10 --json
    """
    if not (ucr or kind or issuer):
        raise click.UsageError("give --ucr, --kind or --issuer")
    with Client(node) as client:
        records = client.query(ucr=ucr or "", kind=kind or "", issuer=issuer or "",
                               limit=limit)
    rows = [record_json(r) for r in records]
    output = Output(as_json)

    def human() -> None:
        if not rows:
            output.line("no documents match")
            return
        # With --ucr this is the consignment's whole story: its declarations, invoices,
        # certificates and their actions, shipment events, and what applying them raised
        # (alert matches, AEO flags, temperature excursions, broken seals) as notices.
        output.table(None, ["height", "document id", "kind", "issuer", "ucr", "result",
                            "notices"],
                     ([r["receipt"]["height"], r["document_id"], r["kind"], r["issuer"],
                       r["ucr"], result_text(rec.receipt.result),
                       "; ".join(rec.receipt.result.notices) or "-"]
                      for r, rec in zip(rows, records, strict=True)),
                     no_wrap=["document id"])

    output.emit(rows, human)


def record_json(record: ledger_pb2.DocumentRecord) -> dict[str, Any]:
    """A document record as JSON: who, what, where on the ledger, and the document form."""
    envelope = record.envelope
    try:
        body = open_envelope(envelope)
        valid = document_id(envelope.body) == record.document_id
    except DocumentError:
        valid = False
        try:
            body = decode_body(envelope.body)
        except DocumentError:
            body = documents_pb2.DocumentBody()
    return {
        "document_id": record.document_id, "kind": record.kind or kind_of(body),
        "issuer": body.issuer, "network": body.network, "ucr": body.ucr,
        "recipients": list(body.recipients), "created_ms": body.created_ms,
        "signer": envelope.signer.hex(), "signature_valid": valid,
        "receipt": receipt_json(record.receipt), "document": body_to_json(body),
    }


# -- shared rendering -------------------------------------------------------------------

_STATUS_NAMES = {
    ledger_pb2.RESULT_STATUS_ACCEPTED: "accepted",
    ledger_pb2.RESULT_STATUS_REJECTED: "rejected",
}


def result_json(result: ledger_pb2.Result) -> dict[str, Any]:
    """A Result as JSON, its status as "accepted", "rejected" or "unspecified"."""
    return {"status": _STATUS_NAMES.get(result.status, "unspecified"), "code": result.code,
            "reason": result.reason, "notices": list(result.notices)}


def result_text(result: ledger_pb2.Result) -> str:
    """A Result in a few words: "accepted", or "rejected (code: reason)"."""
    status = _STATUS_NAMES.get(result.status, "unspecified")
    if result.status == ledger_pb2.RESULT_STATUS_ACCEPTED:
        return status
    return f"{status} ({result.code}: {result.reason})"


def receipt_json(receipt: ledger_pb2.Receipt) -> dict[str, Any]:
    """A Receipt as JSON, its block hash in hex."""
    return {"document_id": receipt.document_id, "height": receipt.height,
            "block_hash": receipt.block_hash.hex(), "position": receipt.position,
            "result": result_json(receipt.result)}


def _time(ms: int) -> str:
    if ms <= 0:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _indented_json(value: Any) -> str:
    return "\n".join("  " + line for line in json.dumps(value, indent=2,
                                                        ensure_ascii=False).splitlines())
