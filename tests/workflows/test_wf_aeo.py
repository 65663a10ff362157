"""AEO status: grant, suspend, reinstate, revoke, history; declarations of suspended
operators flagged; each refusal."""

from __future__ import annotations

from tdx.node.state.workflows.aeo import aeo_key
from tdx.node.state.workflows.certificates import declaration_key
from tdx.sdk import aeo_decision, documents_pb2, state_pb2
from workflow_factories import EXPORTER, IMPORTER, NETWORK, Chain, declaration_body

S = state_pb2.AeoStatus
REF = "DEAEOF123456"


def decide(chain: Chain, action: str, member: str = "de-customs", reference: str = REF,
           operator: documents_pb2.Party = EXPORTER) -> tuple[str, list[str]]:
    outcome = chain.submit(member, aeo_decision(NETWORK, action, operator, reference,
                                                reason=f"{action} decided",
                                                recognized_by=["NG", "JP"]))
    return outcome.code, outcome.notices


def status(chain: Chain, operator_id: str = EXPORTER.id) -> state_pb2.AeoState:
    raw = chain.ledger.store.get(aeo_key(operator_id))
    assert raw is not None
    return state_pb2.AeoState.FromString(raw)


def test_lifecycle_and_history(chain: Chain) -> None:
    code, notices = decide(chain, "grant")
    assert code == ""
    assert notices == [f"aeo.status: operator {EXPORTER.id} ({EXPORTER.name}) AEO {REF} is "
                       "ACTIVE by de-customs: grant decided (recognized by NG, JP)"]
    for action in ("suspend", "reinstate", "suspend", "revoke", "grant"):
        assert decide(chain, action)[0] == "", action
    got = status(chain)
    assert got.status == S.AEO_STATUS_ACTIVE
    assert [S.Name(e.status) for e in got.history] == [
        "AEO_STATUS_ACTIVE", "AEO_STATUS_SUSPENDED", "AEO_STATUS_ACTIVE",
        "AEO_STATUS_SUSPENDED", "AEO_STATUS_REVOKED", "AEO_STATUS_ACTIVE"]
    assert list(got.recognized_by_country_codes) == ["NG", "JP"]
    assert (got.granted_by, got.country_code) == ("de-customs", "DE")


def test_refusals(chain: Chain) -> None:
    assert decide(chain, "suspend")[0] == "aeo.unknown"
    assert decide(chain, "grant")[0] == ""
    assert decide(chain, "grant", "ng-customs")[0] == "aeo.already_granted"
    assert decide(chain, "suspend", "ng-customs")[0] == "aeo.not_granting_authority"
    assert decide(chain, "suspend", reference="OTHER")[0] == "aeo.reference_mismatch"
    assert decide(chain, "reinstate")[0] == "aeo.not_suspended"
    assert decide(chain, "suspend")[0] == ""
    assert decide(chain, "suspend")[0] == "aeo.not_active"
    assert decide(chain, "grant")[0] == "aeo.already_granted"
    assert decide(chain, "revoke")[0] == ""
    assert decide(chain, "revoke")[0] == "aeo.already_revoked"
    assert decide(chain, "reinstate")[0] == "aeo.not_suspended"
    assert decide(chain, "suspend")[0] == "aeo.not_active"
    # After a revocation, another administration may grant anew.
    assert decide(chain, "grant", "ng-customs", "NGAEO-1")[0] == ""
    assert status(chain).granted_by == "ng-customs"
    assert decide(chain, "grant", "acme-trader")[0] == "role.forbidden"


def test_declarations_by_suspended_or_revoked_operators_are_flagged(chain: Chain) -> None:
    decide(chain, "grant")
    clean = chain.submit("de-customs", declaration_body("export_declaration"))
    assert clean.accepted and not [n for n in clean.notices if n.startswith("aeo.")]
    decide(chain, "suspend")
    decide(chain, "grant", operator=IMPORTER, reference="NGAEO-9")
    decide(chain, "revoke", operator=IMPORTER, reference="NGAEO-9")
    flagged = chain.submit("de-customs", declaration_body("export_declaration"))
    assert flagged.accepted
    assert [n for n in flagged.notices if n.startswith("aeo.flag")] == [
        f"aeo.flag: declarant {EXPORTER.id} has AEO {REF} SUSPENDED",
        f"aeo.flag: importer {IMPORTER.id} has AEO NGAEO-9 REVOKED"]
    raw = chain.ledger.store.get(declaration_key(flagged.id))
    assert raw is not None
    flags = state_pb2.DeclarationState.FromString(raw).aeo_flags
    assert [(f.role, f.operator_id, f.status) for f in flags] == [
        ("declarant", EXPORTER.id, S.AEO_STATUS_SUSPENDED),
        ("importer", IMPORTER.id, S.AEO_STATUS_REVOKED)]
    decide(chain, "reinstate")
    again = chain.submit("de-customs", declaration_body("export_declaration"))
    assert [n for n in again.notices if n.startswith("aeo.flag")] == [
        f"aeo.flag: importer {IMPORTER.id} has AEO NGAEO-9 REVOKED"]
