"""Confidential documents: the ledger orders and proves them without reading them.

The content is encrypted for the body's recipients (``tdx.sdk.seal_confidential``); the
schema already checks that the kind may be confidential, that every recipient has exactly
one sealed key and that the public fields are ones the kind offers. Applying one adds a
single rule: every recipient must be a member in force [confidential.recipient_unknown],
since a key sealed for anyone else could never be opened by a member. The ledger's rules of
these kinds (invoice, packing list, bill of lading) need only the body's UCR, which is
public; the public fields are recorded as they are, never interpreted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tdx.node.state.effects import Effect
from tdx.node.state.rules import Refusal

if TYPE_CHECKING:
    from tdx.node.state.effects import ApplyContext


def admit_confidential(context: ApplyContext) -> None:
    """Refuse a confidential document addressed to someone who is not a member."""
    for recipient in sorted(set(context.checked.body.recipients)):
        if recipient not in context.members:
            raise Refusal("FAILED_PRECONDITION", "confidential.recipient_unknown",
                          f"recipient {recipient!r} is not a member; nobody could open the "
                          "key sealed for it")


EFFECTS: dict[str, Effect] = {}
"""The effects of this module's kinds (merged in ``tdx.node.state.workflows``)."""

EFFECTS["confidential"] = admit_confidential
