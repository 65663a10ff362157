"""Supply-chain and IoT events: temperature range per consignment, excursions and broken
seals raise notices; each refusal."""

from __future__ import annotations

from tdx.node.state.workflows.shipments import MAX_EXCURSION_NOTICES, shipment_key
from tdx.sdk import (
    position_event,
    seal_event,
    shipment_events,
    state_pb2,
    temperature_reading,
)
from tdx.v1 import documents_pb2 as pb
from workflow_factories import NETWORK, NOW, UCR, Chain

T = NOW - 60_000


def state(chain: Chain, ucr: str = UCR) -> state_pb2.ShipmentState:
    raw = chain.ledger.store.get(shipment_key(ucr))
    assert raw is not None
    return state_pb2.ShipmentState.FromString(raw)


def test_range_set_once_and_excursions_raise_notices(chain: Chain) -> None:
    first = chain.submit("atlantic", shipment_events(
        NETWORK, UCR, [temperature_reading(T, "4.5", "reefer-5"),
                       temperature_reading(T + 1, "8.5", "reefer-5")],
        min_temperature_c="2", max_temperature_c="8"))
    assert first.accepted
    assert first.notices == [
        f"shipment.temperature_excursion: consignment {UCR}: 8.5 C at 2026-11-18 "
        "11:05:40 UTC (device reefer-5) is outside 2...8 C"]
    again = chain.submit("atlantic", shipment_events(
        NETWORK, UCR, [temperature_reading(T + 2, "1.99")], min_temperature_c="2.0",
        max_temperature_c="8"))
    assert again.accepted and len(again.notices) == 1
    changed = chain.submit("atlantic", shipment_events(
        NETWORK, UCR, [temperature_reading(T + 3, "5")], max_temperature_c="10"))
    assert changed.code == "shipment.range_already_set"
    got = state(chain)
    assert (got.min_temperature_c, got.max_temperature_c, got.range_document_id) == (
        "2", "8", first.id)
    assert (got.events, got.excursions) == (3, 2)


def test_readings_before_a_range_are_not_judged(chain: Chain) -> None:
    outcome = chain.submit("atlantic", shipment_events(NETWORK, UCR, [
        temperature_reading(T, "40")]))
    assert outcome.accepted and outcome.notices == []
    open_top = chain.submit("atlantic", shipment_events(
        NETWORK, "4DE-OTHER-0002", [temperature_reading(T, "-30")], max_temperature_c="-18"))
    assert open_top.accepted and open_top.notices == []


def test_excursion_notices_are_capped_per_batch(chain: Chain) -> None:
    readings = [temperature_reading(T + i, "30") for i in range(25)]
    outcome = chain.submit("atlantic", shipment_events(NETWORK, UCR, readings,
                                                       min_temperature_c="2",
                                                       max_temperature_c="8"))
    assert len(outcome.notices) == MAX_EXCURSION_NOTICES + 1
    assert "15 more readings" in outcome.notices[-1]
    assert state(chain).excursions == 25


def test_broken_seal_raises_a_notice_once_and_cannot_be_mended(chain: Chain) -> None:
    intact = chain.submit("atlantic", shipment_events(NETWORK, UCR, [
        seal_event(T, "SEAL-1"), seal_event(T, "SEAL-2")]))
    assert intact.accepted and intact.notices == []
    broken = chain.submit("atlantic", shipment_events(NETWORK, UCR, [
        seal_event(T + 1, "SEAL-1", broken=True, device_id="reader-2")]))
    assert broken.notices == [f"shipment.seal_broken: consignment {UCR}: seal SEAL-1 reported "
                              "broken at 2026-11-18 11:05:40 UTC (device reader-2)"]
    still = chain.submit("atlantic", shipment_events(NETWORK, UCR, [
        seal_event(T + 2, "SEAL-1", broken=True)]))
    assert still.accepted and still.notices == []
    mended = chain.submit("atlantic", shipment_events(NETWORK, UCR, [
        seal_event(T + 3, "SEAL-1")]))
    assert mended.code == "shipment.seal_already_broken"
    got = state(chain)
    assert [(s.seal_id, s.status) for s in got.seals] == [
        ("SEAL-1", pb.SEAL_STATUS_BROKEN), ("SEAL-2", pb.SEAL_STATUS_INTACT)]
    assert got.broken_seals == 1


def test_latest_position_is_kept(chain: Chain) -> None:
    chain.ok("atlantic", shipment_events(NETWORK, UCR, [
        position_event(T + 5, 53.5, 9.9, "DEHAM"), position_event(T, 51.9, 4.1, "NLRTM")]))
    chain.ok("atlantic", shipment_events(NETWORK, UCR, [position_event(T + 1, 0, 0)]))
    assert state(chain).last_position.location_id == "DEHAM"


def test_only_logistics_report_events(chain: Chain) -> None:
    outcome = chain.submit("acme-trader", shipment_events(NETWORK, UCR, [
        temperature_reading(T, "4")]))
    assert outcome.code == "role.forbidden"
