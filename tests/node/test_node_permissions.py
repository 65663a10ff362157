"""The role table: which role may submit which kind."""

from __future__ import annotations

import pytest
from sdk_factories import MEMBERS, SUBMITTER
from tdx.node.state.permissions import OPEN_KINDS, ROLE_KINDS, kinds_for, may_submit
from tdx.sdk import KIND_NAMES, ROLES


def test_table_covers_exactly_the_sdk_roles() -> None:
    assert set(ROLE_KINDS) == set(ROLES)


def test_table_names_only_known_kinds() -> None:
    for role, kinds in ROLE_KINDS.items():
        assert kinds <= set(KIND_NAMES), role


def test_every_kind_but_confidential_is_submittable_by_some_role() -> None:
    """confidential is judged by the kind it carries, never by itself."""
    reachable = set(OPEN_KINDS).union(*ROLE_KINDS.values())
    assert set(KIND_NAMES) - reachable == {"confidential"}


@pytest.mark.parametrize("roles", [[], ["observer"], *([r] for r in ROLES), ["nonsense"]])
def test_key_rotation_is_open_to_every_member(roles: list[str]) -> None:
    assert may_submit(roles, "key_rotation")


def test_observer_may_submit_nothing_else() -> None:
    assert kinds_for(["observer"]) == ["key_rotation"]
    assert ROLE_KINDS["observer"] == frozenset()


def test_unknown_role_grants_nothing() -> None:
    assert kinds_for(["admiral"]) == ["key_rotation"]


def test_roles_combine_as_a_union_in_kind_order() -> None:
    combined = kinds_for(["issuer", "rights_holder"])
    assert set(combined) == ROLE_KINDS["issuer"] | ROLE_KINDS["rights_holder"] | OPEN_KINDS
    assert combined == [k for k in KIND_NAMES if k in combined]


@pytest.mark.parametrize(
    ("role", "kind", "allowed"),
    [
        ("customs", "export_declaration", True),
        ("customs", "origin_certificate", False),
        ("customs", "governance_vote", True),
        ("issuer", "origin_certificate", True),
        ("issuer", "certificate_revocation", True),
        ("issuer", "certificate_draw_down", False),
        ("trader", "invoice", True),
        ("trader", "ip_rights_alert", False),
        ("rights_holder", "ip_rights_record", True),
        ("rights_holder", "ip_rights_alert", False),
        ("logistics", "shipment_events", True),
        ("logistics", "invoice", False),
        ("observer", "invoice", False),
        ("customs", "confidential", False),
    ],
)
def test_table_entries(role: str, kind: str, allowed: bool) -> None:
    assert may_submit([role], kind) is allowed


@pytest.mark.parametrize("kind", sorted(SUBMITTER))
def test_test_submitters_hold_a_role_for_their_kind(kind: str) -> None:
    """The shared factories pick, per kind, a member whose roles allow it."""
    assert may_submit(MEMBERS[SUBMITTER[kind]][1], kind)
