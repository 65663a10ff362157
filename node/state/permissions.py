"""Which role may submit which document kind: the one table of it.

A member may submit a kind when any of its roles lists the kind. ``key_rotation`` is open to
every member (a member rotates its own key). A ``confidential`` document is allowed when the
signer could submit the kind it carries (``Confidential.kind``).
"""

from __future__ import annotations

from collections.abc import Iterable

from tdx.sdk import KIND_NAMES, ROLES

ROLE_KINDS: dict[str, frozenset[str]] = {
    "customs": frozenset({
        "export_declaration", "import_declaration",
        "certificate_draw_down", "certificate_verification",
        "ip_rights_alert", "aeo_decision",
        "governance_proposal", "governance_vote",
    }),
    "issuer": frozenset({
        "origin_certificate", "phytosanitary_certificate", "certificate_revocation",
    }),
    "trader": frozenset({
        "export_declaration", "import_declaration", "invoice", "bill_of_lading", "packing_list",
    }),
    "rights_holder": frozenset({"ip_rights_record"}),
    "logistics": frozenset({"bill_of_lading", "packing_list", "shipment_events"}),
    "observer": frozenset(),
}
OPEN_KINDS = frozenset({"key_rotation"})

assert set(ROLE_KINDS) == set(ROLES)
assert all(kinds <= set(KIND_NAMES) for kinds in ROLE_KINDS.values())


def may_submit(roles: Iterable[str], kind: str) -> bool:
    """Whether a member holding ``roles`` may submit a document of ``kind``."""
    if kind in OPEN_KINDS:
        return True
    return any(kind in ROLE_KINDS.get(role, frozenset()) for role in roles)


def kinds_for(roles: Iterable[str]) -> list[str]:
    """The kinds a member with ``roles`` may submit, in KIND_NAMES order."""
    return [kind for kind in KIND_NAMES if may_submit(roles, kind)]
