"""Authorized Economic Operator status: grant, suspend, reinstate, revoke; shared at once.

Rules for ``aeo_decision`` (customs role; each refusal's code in brackets):

- GRANT makes an operator ACTIVE; it is refused while a grant is in force (ACTIVE or
  SUSPENDED) [aeo.already_granted]. After a revocation any customs member may grant anew.
- SUSPEND, REINSTATE and REVOKE need a status on record [aeo.unknown], come from the
  customs member whose grant is in force [aeo.not_granting_authority] and name its AEO
  reference [aeo.reference_mismatch]. SUSPEND needs ACTIVE [aeo.not_active], REINSTATE
  needs SUSPENDED [aeo.not_suspended], REVOKE needs ACTIVE or SUSPENDED
  [aeo.already_revoked].
- Every decision appends to the operator's history and raises an ``aeo.status`` notice
  naming the countries that recognize the status under a mutual recognition arrangement,
  so that their administrations see it on their subscription at once.
- Declarations (``declarations.py``) are flagged (``aeo.flag`` notices, recorded on the
  declaration) when a party to them has a SUSPENDED or REVOKED status: ``flags``.

State::

    state/aeo/<operator id>     AeoState (status, grant in force, history oldest first)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tdx.node.state.effects import Effect
from tdx.node.state.workflows._state import load, refuse, save, state_key
from tdx.v1 import documents_pb2 as pb
from tdx.v1 import state_pb2

if TYPE_CHECKING:
    from tdx.node.state.effects import ApplyContext

A = pb.AeoAction
S = state_pb2.AeoStatus
STATUS_NAMES = {S.AEO_STATUS_ACTIVE: "ACTIVE", S.AEO_STATUS_SUSPENDED: "SUSPENDED",
                S.AEO_STATUS_REVOKED: "REVOKED"}
_AFTER = {A.AEO_ACTION_GRANT: S.AEO_STATUS_ACTIVE, A.AEO_ACTION_SUSPEND: S.AEO_STATUS_SUSPENDED,
          A.AEO_ACTION_REINSTATE: S.AEO_STATUS_ACTIVE, A.AEO_ACTION_REVOKE: S.AEO_STATUS_REVOKED}
# The parties of a trade document whose AEO status is checked, in this order.
PARTY_ROLES = ("declarant", "exporter", "importer", "consignor", "consignee")


def aeo_key(operator_id: str) -> bytes:
    """Where an operator's AEO state lives."""
    return state_key("aeo/", operator_id)


def decide(context: ApplyContext) -> None:
    """Effect of ``aeo_decision``."""
    body = context.checked.body
    decision = body.aeo
    operator_id = decision.operator.id
    state = load(context.batch, aeo_key(operator_id), state_pb2.AeoState)
    if decision.action == A.AEO_ACTION_GRANT:
        if state is not None and state.status != S.AEO_STATUS_REVOKED:
            raise refuse("aeo.already_granted",
                         f"operator {operator_id} holds AEO {state.reference} "
                         f"({STATUS_NAMES[state.status]}, granted by {state.granted_by})")
        history = list(state.history) if state is not None else []
        state = state_pb2.AeoState(
            operator=decision.operator, reference=decision.reference, granted_by=body.issuer,
            country_code=context.checked.member.country_code, history=history)
        state.recognized_by_country_codes.extend(decision.recognized_by_country_codes)
    else:
        state = _check_change(context, state)
        if decision.recognized_by_country_codes:
            del state.recognized_by_country_codes[:]
            state.recognized_by_country_codes.extend(decision.recognized_by_country_codes)
    state.status = _AFTER[decision.action]
    state.history.append(state_pb2.AeoEvent(
        document_id=context.document_id, action=decision.action, status=state.status,
        member=body.issuer, height=context.height, at_ms=context.proposed_ms,
        reference=decision.reference, reason=decision.reason))
    save(context.batch, aeo_key(operator_id), state)
    recognized = ", ".join(state.recognized_by_country_codes) or "no MRA partner"
    reason = f": {decision.reason}" if decision.reason else ""
    context.notices.append(
        f"aeo.status: operator {operator_id} ({decision.operator.name}) AEO "
        f"{state.reference} is {STATUS_NAMES[state.status]} by {body.issuer}{reason} "
        f"(recognized by {recognized})")


def _check_change(context: ApplyContext,
                  state: state_pb2.AeoState | None) -> state_pb2.AeoState:
    decision = context.checked.body.aeo
    operator_id = decision.operator.id
    action = pb.AeoAction.Name(decision.action).removeprefix("AEO_ACTION_").lower()
    if state is None:
        raise refuse("aeo.unknown", f"operator {operator_id} has no AEO status to {action}")
    if context.checked.body.issuer != state.granted_by:
        raise refuse("aeo.not_granting_authority",
                     f"only {state.granted_by}, which granted AEO {state.reference}, may "
                     f"{action} it")
    if decision.reference != state.reference:
        raise refuse("aeo.reference_mismatch",
                     f"operator {operator_id} holds AEO {state.reference}, not "
                     f"{decision.reference}")
    status = STATUS_NAMES[state.status]
    if decision.action == A.AEO_ACTION_SUSPEND and state.status != S.AEO_STATUS_ACTIVE:
        raise refuse("aeo.not_active", f"AEO {state.reference} is {status}, not ACTIVE")
    if decision.action == A.AEO_ACTION_REINSTATE and state.status != S.AEO_STATUS_SUSPENDED:
        raise refuse("aeo.not_suspended", f"AEO {state.reference} is {status}, not SUSPENDED")
    if decision.action == A.AEO_ACTION_REVOKE and state.status == S.AEO_STATUS_REVOKED:
        raise refuse("aeo.already_revoked", f"AEO {state.reference} is already revoked")
    return state


def flags(context: ApplyContext, trade: pb.TradeDocument) -> list[state_pb2.AeoFlag]:
    """The parties of ``trade`` whose AEO status is SUSPENDED or REVOKED, one flag each."""
    out: list[state_pb2.AeoFlag] = []
    seen: set[str] = set()
    for role in PARTY_ROLES:
        party: pb.Party = getattr(trade, role)
        if not party.id or party.id in seen:
            continue
        seen.add(party.id)
        state = load(context.batch, aeo_key(party.id), state_pb2.AeoState)
        if state is None or state.status == S.AEO_STATUS_ACTIVE:
            continue
        out.append(state_pb2.AeoFlag(role=role, operator_id=party.id, status=state.status,
                                     reference=state.reference))
    return out


def flag_notice(flag: state_pb2.AeoFlag) -> str:
    """The notice for one flag."""
    return (f"aeo.flag: {flag.role} {flag.operator_id} has AEO {flag.reference} "
            f"{STATUS_NAMES[flag.status]}")


EFFECTS: dict[str, Effect] = {}
"""The effects of this module's kinds (merged in ``tdx.node.state.workflows``)."""

EFFECTS.update({"aeo_decision": decide})
