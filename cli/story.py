"""``tdx doc story``: a consignment's whole story, its documents and the state they made.

The command joins the ``tdx doc`` group in ``main.py``.
"""

from __future__ import annotations

import click
from tdx.sdk import Client, NotFound, ledger_pb2, state_pb2

from ._output import Output, TdxCommand
from ._params import json_option, node_option
from .doc import record_json, result_text
from .workflows import _enum, _message_json


@click.command("story", cls=TdxCommand)
@click.option("--ucr", required=True, help="The consignment (Unique Consignment Reference).")
@node_option
@json_option
def story(ucr: str, node: str, as_json: bool) -> None:
    """Show a consignment's whole story: every document with its result and notices, then
    its declarations (links, alert matches, AEO flags), certificates and shipment state.

    \b
    Example:
      tdx doc story --ucr 4DE123456789-INV-2026-0001
    """
    with Client(node) as client:
        records = client.query(ucr=ucr, limit=1000)
        try:
            consignment = client.get_consignment(ucr)
        except NotFound:
            consignment = ledger_pb2.GetConsignmentResponse(ucr=ucr)
    documents = [record_json(r) for r in records]
    data = {"ucr": ucr, "documents": documents,
            "declarations": [_message_json(d) for d in consignment.declarations],
            "certificates": [_message_json(c) for c in consignment.certificates],
            "shipment": (_message_json(consignment.shipment)
                         if consignment.HasField("shipment") else None)}
    output = Output(as_json)

    def human() -> None:
        if not records:
            output.line(f"no documents for consignment {ucr}")
            return
        output.line(f"consignment {ucr}: {len(records)} documents")
        output.table(None, ["height", "document id", "kind", "issuer", "result"],
                     ([r.receipt.height, r.document_id, r.kind, d["issuer"],
                       result_text(r.receipt.result)] for r, d in zip(records, documents,
                                                                     strict=True)),
                     no_wrap=["document id"])
        for record in records:
            for notice in record.receipt.result.notices:
                output.line(f"  notice at {record.receipt.height}: {notice}")
        for decl in consignment.declarations:
            link = (f", linked to export {decl.linked_export_id[:12]}"
                    if decl.linked_export_id else "")
            imports = (f", imported by {', '.join(i[:12] for i in decl.linked_import_ids)}"
                       if decl.linked_import_ids else "")
            output.line(f"{decl.kind} {decl.declaration_id[:12]} {decl.export_country_code} -> "
                        f"{decl.destination_country_code}{link}{imports}; "
                        f"{len(decl.alert_matches)} alert match(es), "
                        f"{len(decl.aeo_flags)} AEO flag(s)")
        for state in consignment.certificates:
            status = _enum(state_pb2.CertificateStatus.Name(state.status),
                           "CERTIFICATE_STATUS_")
            remaining = ", ".join(f"{line.sequence_numeric}: {line.remaining}/{line.quantity}"
                                  for line in state.lines)
            output.line(f"{state.kind} {state.number} ({state.certificate_id[:12]}): {status}; "
                        f"remaining {remaining}")
        if consignment.HasField("shipment"):
            ship = consignment.shipment
            bounds = f"{ship.min_temperature_c or '-'}..{ship.max_temperature_c or '-'} C"
            output.line(f"shipment: {ship.events} events, range {bounds}, "
                        f"{ship.excursions} excursion(s), {ship.broken_seals} broken seal(s)")

    output.emit(data, human)
