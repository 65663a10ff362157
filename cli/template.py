"""``tdx doc template``: a valid example document of a kind, with fields set from the command line.

The command joins the ``tdx doc`` group in ``main.py``.
"""

from __future__ import annotations

import json
from typing import Any

import click
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from tdx.sdk import KINDS, documents_pb2, template, template_kinds

from ._output import Output, TdxCommand
from ._params import json_option

# The document's own fields; any other --set path is a field of its content.
DOCUMENT_FIELDS = ("kind", "ucr", "recipients", "content")
# Fields whose JSON form is text: VALUE is never parsed for them.
_TEXT_TYPES = {FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_BYTES, FieldDescriptor.TYPE_ENUM,
               FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64,
               FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_FIXED64,
               FieldDescriptor.TYPE_SFIXED64}


@click.command("template", cls=TdxCommand)
@click.argument("kind", required=False, type=click.Choice(template_kinds()), metavar="[KIND]")
@click.option("--list", "list_kinds", is_flag=True, help="List the kinds that have a template.")
@click.option("--set", "settings", multiple=True, metavar="FIELD=VALUE",
              help="Set a field (repeatable): `ucr`, `recipients`, or a content field such as "
                   "`certificate_ids` or `importer.name` (dotted). VALUE is JSON, or text; a "
                   "single value for a list field becomes a list of one.")
@json_option
def template_command(kind: str | None, list_kinds: bool, settings: tuple[str, ...],
                     as_json: bool) -> None:
    """Print a valid example document of KIND, or list the kinds.

    The example is JSON that `tdx doc submit` accepts as it is. Examples that refer to other
    documents (a certificate to revoke, a proposal to vote on) carry a placeholder id:
    put the real document's id there (--set does it), or the ledger rejects it.

    \b
    Example:
      tdx doc template --list
      tdx doc template invoice > invoice.json
      tdx doc template import_declaration --set certificate_ids=3f1c...e9 > import.json
      tdx doc template export_declaration --set ucr=4DE-2 --set 'goods_items=[]'
    """
    output = Output(as_json)
    if list_kinds == bool(kind):
        raise click.UsageError("give a KIND, or --list to see them")
    if list_kinds:
        if settings:
            raise click.UsageError("--set goes with a KIND, not --list")
        summaries = {k.name: k.summary for k in KINDS}
        rows = [{"kind": name, "summary": summaries[name]} for name in template_kinds()]
        output.emit(rows, lambda: output.table(
            None, ["kind", "summary"], ([r["kind"], r["summary"]] for r in rows)))
        return
    assert kind is not None
    document = template(kind)
    for setting in settings:
        set_field(document, kind, setting)
    # The document is JSON for people and scripts alike: --json changes nothing here.
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def set_field(document: dict[str, Any], kind: str, setting: str) -> None:
    """Apply one ``FIELD=VALUE`` to a template document of ``kind`` (see ``--set``).

    The field is looked up in the kind's protobuf message, so an unknown name is refused with
    the names there are. A text field (strings, ids, enums, 64-bit numbers) takes VALUE as it
    is, so an all-digit id stays text; other fields take VALUE as JSON when it parses, else as
    text. A list field given one value gets a list of that one value.
    """
    path, sep, raw = setting.partition("=")
    names = [name.strip() for name in path.split(".")]
    if not sep or not all(names):
        raise click.BadParameter(f"{setting!r} is not FIELD=VALUE", param_hint="--set")
    if names[0] not in DOCUMENT_FIELDS:
        names = ["content", *names]
    field = _field_of(kind, names)
    parent: Any = document
    for name in names[:-1]:
        if not isinstance(parent, dict):
            raise click.BadParameter(f"{path}: {name} is not an object", param_hint="--set")
        parent = parent.setdefault(name, {})
    if not isinstance(parent, dict):
        raise click.BadParameter(f"{path} is not inside an object", param_hint="--set")
    value: Any = raw
    if field is None or field.type not in _TEXT_TYPES:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
    if field is not None and field.is_repeated and not isinstance(value, list):
        value = [value]
    parent[names[-1]] = value


def _field_of(kind: str, names: list[str]) -> FieldDescriptor | None:
    """The descriptor of a dotted path into a document of ``kind``; BadParameter if unknown."""
    if names[0] == "kind":
        return None
    message: Descriptor | None = documents_pb2.DocumentBody.DESCRIPTOR
    content = next(k.field for k in KINDS if k.name == kind)
    steps = [content, *names[1:]] if names[0] == "content" else names
    field: FieldDescriptor | None = None
    for step in steps:
        if message is None:
            raise click.BadParameter(f"{'.'.join(names)}: {step} is inside a field that is "
                                     "not an object", param_hint="--set")
        field = message.fields_by_name.get(step)
        if field is None:
            known = ", ".join(sorted(message.fields_by_name))
            raise click.BadParameter(f"{'.'.join(names)}: no field {step!r} here; the fields "
                                     f"are {known}", param_hint="--set")
        message = field.message_type
    return field
