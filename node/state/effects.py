"""The interface between the ledger and the workflows: what an effect sees and is.

An effect is a function of an ``ApplyContext``. It reads and writes state through
``context.batch`` under ``Prefix.STATE`` (or membership under ``Prefix.MEMBER`` and
``Prefix.KEY``, setting ``context.membership_changed``), raises ``Refusal`` to reject the
document with a recorded code and reason (its writes are rolled back), and appends notices
(alert matches, temperature excursions) to ``context.notices``. Effects must be
deterministic: no clock but ``context.proposed_ms``, no randomness, no I/O but the batch.

Which kind has which effect is data: ``tdx.node.state.workflows.EFFECTS``, handed to each
``Ledger`` by whoever opens it (this module imports neither the ledger nor the workflows).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tdx.node.state.rules import Checked
from tdx.node.state.store import WriteBatch
from tdx.v1 import documents_pb2


@dataclass
class ApplyContext:
    """What a kind's effect sees while its document is applied.

    ``batch`` reads and writes state as of this point in the block; an effect raises
    Refusal to reject the document, or appends to ``notices``.
    """

    batch: WriteBatch
    checked: Checked
    document_id: str
    height: int
    proposed_ms: int
    notices: list[str] = field(default_factory=list)
    membership_changed: bool = False
    # The membership in force for this block (member id -> record), read-only: changes an
    # effect writes under Prefix.MEMBER take effect from the next block. Governance counts
    # its majorities over it.
    members: Mapping[str, documents_pb2.MemberRecord] = field(default_factory=dict)


Effect = Callable[[ApplyContext], None]
"""What applying one document of a kind does to state."""
