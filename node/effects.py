"""What each document kind does to the ledger's state when it is applied: the registry.

An effect is a function of an ``ApplyContext`` (see ``ledger.py``). It reads and writes
state through ``context.batch`` under ``Prefix.STATE`` (or membership under ``Prefix.MEMBER``
and ``Prefix.KEY``, setting ``context.membership_changed``), raises ``Refusal`` to reject
the document with a recorded code and reason (its writes are rolled back), and appends
notices (alert matches, temperature excursions) to ``context.notices``. Effects must be
deterministic: no clock but ``context.proposed_ms``, no randomness, no I/O but the batch.

Workflow modules add their effects to ``EFFECTS``; ``Ledger`` installs them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .ledger import ApplyContext

Effect = Callable[["ApplyContext"], None]

EFFECTS: dict[str, Effect] = {}

# The workflow modules register their effects into EFFECTS when imported (keep this last).
from . import workflows as _workflows  # noqa: E402

assert _workflows
