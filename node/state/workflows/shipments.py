"""Supply-chain and IoT events: signed batches per consignment, with temperature range and
seal checks that raise notices to subscribed customs.

Rules for ``shipment_events`` (logistics role; each refusal's code in brackets):

- The allowed temperature range of a consignment (``min_temperature_c``,
  ``max_temperature_c``, either may be open) is set by the first batch that carries one;
  a later batch may repeat it but not change it [shipment.range_already_set]. The range
  applies to the readings of the batch that sets it.
- A temperature reading outside the range raises a ``shipment.temperature_excursion``
  notice (at most ``MAX_EXCURSION_NOTICES`` per batch, then one summary) and counts as an
  excursion. Readings before any range is set are recorded but not judged.
- A seal reported BROKEN raises a ``shipment.seal_broken`` notice the first time; a seal
  once broken cannot be reported INTACT again [shipment.seal_already_broken] (a new seal
  has a new id).
- The latest position event (by observation time) is kept.

State::

    state/ship/<ucr>     ShipmentState (range, seals by id, counters, last position)
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from tdx.node.state.effects import Effect
from tdx.node.state.workflows._state import load, number, refuse, save, state_key, text, when
from tdx.v1 import documents_pb2 as pb
from tdx.v1 import state_pb2

if TYPE_CHECKING:
    from tdx.node.state.effects import ApplyContext

MAX_EXCURSION_NOTICES = 10


def shipment_key(ucr: str) -> bytes:
    """Where a consignment's shipment state lives."""
    return state_key("ship/", ucr)


def _bound(value: str) -> Decimal | None:
    return number(value) if value else None


def _range_text(low: Decimal | None, high: Decimal | None) -> str:
    return (f"{text(low) if low is not None else '-inf'}..."
            f"{text(high) if high is not None else '+inf'} C")


def record_events(context: ApplyContext) -> None:
    """Effect of ``shipment_events``."""
    body = context.checked.body
    batch = body.shipment
    ucr = body.ucr
    state = (load(context.batch, shipment_key(ucr), state_pb2.ShipmentState)
             or state_pb2.ShipmentState(ucr=ucr))
    _set_range(context, state, batch)
    low, high = _bound(state.min_temperature_c), _bound(state.max_temperature_c)
    has_range = bool(state.range_document_id)
    seals = {seal.seal_id: seal for seal in state.seals}
    excursions = 0
    for event in batch.events:
        state.events += 1
        if event.type == pb.SHIPMENT_EVENT_TYPE_TEMPERATURE and has_range:
            reading = number(event.temperature_c)
            if (low is not None and reading < low) or (high is not None and reading > high):
                excursions += 1
                if excursions <= MAX_EXCURSION_NOTICES:
                    context.notices.append(
                        f"shipment.temperature_excursion: consignment {ucr}: "
                        f"{event.temperature_c} C at {when(event.observed_ms)} "
                        f"(device {event.device_id or '-'}) is outside "
                        f"{_range_text(low, high)}")
        elif event.type == pb.SHIPMENT_EVENT_TYPE_SEAL:
            _seal(context, seals, event, ucr)
        elif event.type == pb.SHIPMENT_EVENT_TYPE_POSITION and (
            not state.HasField("last_position")
            or event.observed_ms >= state.last_position.observed_ms
        ):
            state.last_position.CopyFrom(event)
    if excursions > MAX_EXCURSION_NOTICES:
        context.notices.append(
            f"shipment.temperature_excursion: consignment {ucr}: "
            f"{excursions - MAX_EXCURSION_NOTICES} more readings outside "
            f"{_range_text(low, high)} in this batch")
    state.excursions += excursions
    state.broken_seals = sum(1 for s in seals.values() if s.status == pb.SEAL_STATUS_BROKEN)
    del state.seals[:]
    state.seals.extend(seals[k] for k in sorted(seals))
    save(context.batch, shipment_key(ucr), state)


def _set_range(context: ApplyContext, state: state_pb2.ShipmentState,
               batch: pb.ShipmentEvents) -> None:
    if not (batch.min_temperature_c or batch.max_temperature_c):
        return
    wanted = (_bound(batch.min_temperature_c), _bound(batch.max_temperature_c))
    if state.range_document_id:
        current = (_bound(state.min_temperature_c), _bound(state.max_temperature_c))
        if wanted != current:
            raise refuse("shipment.range_already_set",
                         f"consignment {state.ucr} already has the range "
                         f"{_range_text(*current)}, set by {state.range_document_id}")
        return
    state.min_temperature_c = batch.min_temperature_c
    state.max_temperature_c = batch.max_temperature_c
    state.range_document_id = context.document_id


def _seal(context: ApplyContext, seals: dict[str, state_pb2.SealState],
          event: pb.ShipmentEvent, ucr: str) -> None:
    before = seals.get(event.seal_id)
    was_broken = before is not None and before.status == pb.SEAL_STATUS_BROKEN
    if was_broken and event.seal_status == pb.SEAL_STATUS_INTACT:
        raise refuse("shipment.seal_already_broken",
                     f"seal {event.seal_id} of consignment {ucr} was reported broken at "
                     f"{when(before.observed_ms if before else 0)}; a new seal needs a new id")
    if event.seal_status == pb.SEAL_STATUS_BROKEN and not was_broken:
        context.notices.append(
            f"shipment.seal_broken: consignment {ucr}: seal {event.seal_id} reported broken "
            f"at {when(event.observed_ms)} (device {event.device_id or '-'})")
    if was_broken:
        return
    seals[event.seal_id] = state_pb2.SealState(
        seal_id=event.seal_id, status=event.seal_status, observed_ms=event.observed_ms,
        device_id=event.device_id, document_id=context.document_id)


EFFECTS: dict[str, Effect] = {}
"""The effects of this module's kinds (merged in ``tdx.node.state.workflows``)."""

EFFECTS.update({"shipment_events": record_events})
