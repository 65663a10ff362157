"""Workflow 4: supply-chain and IoT events for a reefer consignment.

The logistics provider sets the allowed temperature range (2 to 8 C) with its first batch
of events; a reading of 9.4 C and a broken seal raise notices to subscribed customs; a
later batch cannot change the range. The consignment's story shows it all.

    python examples/supply_chain_events.py            # starts its own node
"""

from __future__ import annotations

from _network import network, now_ms, show, step
from tdx.sdk import position_event, seal_event, shipment_events, temperature_reading

UCR = "4NL-VACCINES-2026-0007"


def main() -> None:
    with network("Supply-chain and IoT events.") as net:
        t = now_ms() - 3_600_000
        step("atlantic reports the first batch and sets the range 2..8 C")
        show(net.submit("atlantic", shipment_events(net.network, UCR, [
            position_event(t, 51.95, 4.14, "NLRTM", "tracker-17"),
            seal_event(t + 1000, "SEAL-0042", device_id="seal-reader-2"),
            temperature_reading(t + 2000, "4.5", "reefer-5"),
        ], min_temperature_c="2", max_temperature_c="8")), "batch 1")

        step("a warm reading and a broken seal")
        show(net.submit("atlantic", shipment_events(net.network, UCR, [
            temperature_reading(t + 60_000, "9.4", "reefer-5"),
            seal_event(t + 90_000, "SEAL-0042", broken=True, device_id="seal-reader-2"),
            position_event(t + 120_000, 53.54, 9.98, "DEHAM", "tracker-17"),
        ])), "batch 2")

        step("a batch that tries to widen the range is refused")
        show(net.submit("atlantic", shipment_events(net.network, UCR, [
            temperature_reading(t + 180_000, "9.0", "reefer-5")], max_temperature_c="10")),
             "batch 3")

        step("the consignment's shipment state")
        ship = net.client.get_consignment(UCR).shipment
        print(f"   {ship.events} events, range {ship.min_temperature_c}..{ship.max_temperature_c}"
              f" C, {ship.excursions} excursion(s), {ship.broken_seals} broken seal(s), last "
              f"seen at {ship.last_position.location_id}", flush=True)


if __name__ == "__main__":
    main()
