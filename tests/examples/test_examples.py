"""Each workflow example runs as a script (starting and stopping its own node) and prints
what happens at each step."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 60

pytestmark = pytest.mark.timeout(TIMEOUT + 15)


def run_example(name: str) -> str:
    """Run a workflow example (one that starts "a one-validator node"); return its stdout."""
    out = run_script(name)
    assert "started a one-validator node" in out and out.rstrip().endswith("node stopped")
    return out


def run_script(name: str) -> str:
    """Run ``examples/NAME.py``; return its stdout. Its whole process group is killed if it
    overruns, so no node outlives the test."""
    process = subprocess.Popen([sys.executable, str(EXAMPLES / f"{name}.py")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        out, err = process.communicate(timeout=15)
        raise AssertionError(f"{name} ran over {TIMEOUT}s:\n{out}\n{err}") from None
    assert process.returncode == 0, f"{name} exited {process.returncode}:\n{out}\n{err}"
    return out


def test_certificate_of_origin() -> None:
    out = run_example("certificate_of_origin")
    assert "certificate: accepted" in out
    assert "verification: accepted" in out
    assert "draw-down of 25: accepted" in out
    assert "draw-down of 20: REJECTED certificate.over_draw" in out
    assert "line 1: 15 of 40 NAR left" in out
    assert "notice: certificate.amended:" in out
    assert "draw-down on the old version: REJECTED certificate.superseded" in out
    assert "notice: certificate.used_up:" in out
    assert "verification after revocation: REJECTED certificate.revoked" in out


def test_aeo_status() -> None:
    out = run_example("aeo_status")
    assert "is SUSPENDED by de-customs: audit findings (recognized by NG, JP)" in out
    assert "notice: aeo.flag: declarant DE123456789012345 has AEO DEAEOF123456 SUSPENDED" in out
    assert "suspend: REJECTED aeo.not_active" in out
    assert "[jp-customs subscription]" in out
    assert "jp-customs saw 3 decisions on their subscription" in out
    assert "DE123456789012345: AEO_STATUS_ACTIVE" in out


def test_ip_rights_alerts() -> None:
    out = run_example("ip_rights_alerts")
    assert out.count("notice: ip_alert.match:") == 1
    assert "(HIGH) on rights record" in out and "matched hs_code=841370, origin=CN" in out
    assert "[subscription] height 3 import_declaration: ip_alert.match:" in out


def test_supply_chain_events() -> None:
    out = run_example("supply_chain_events")
    assert "notice: shipment.temperature_excursion:" in out and "9.4 C" in out
    assert "notice: shipment.seal_broken:" in out
    assert "batch 3: REJECTED shipment.range_already_set" in out
    assert "1 excursion(s), 1 broken seal(s), last seen at DEHAM" in out


def test_advance_export_data() -> None:
    out = run_example("advance_export_data")
    assert "notice: declaration.linked:" in out and "(found by UCR;" in out
    assert "REJECTED declaration.ucr_mismatch" in out
    assert "export_declaration" in out and "import_declaration" in out


def test_governance() -> None:
    out = run_script("governance")
    assert "proposal approved (2 of 3 customs): member customs-ng added" in out
    assert "gov.vote_duplicate" in out
    assert "trader-a votes: refused (PERMISSION_DENIED" in out
    assert "proposal rejected (2 of 4 customs against)" in out
    assert "member trader-a removed" in out
    assert "trader-a tries to submit an invoice: refused (PERMISSION_DENIED" in out
    assert out.rstrip().endswith("stopped the node")


def test_key_rotation() -> None:
    out = run_script("key_rotation")
    assert "invoice signed with the new key: accepted in block 3" in out
    assert "invoice signed with the old key: refused (PERMISSION_DENIED" in out
    assert "still checks offline: block 1, issuer trader-a, accepted=True" in out


def test_confidential_invoice() -> None:
    out = run_script("confidential_invoice")
    assert "customs-ng decrypts it: invoice INV-2026-0001" in out
    assert "customs-de cannot: member 'customs-de' is not a recipient" in out
    assert "its proof checks offline" in out
