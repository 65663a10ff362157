"""The creation-time window: how far a document's ``created_ms`` may lie from its block's time.

A document says when it was created (``DocumentBody.created_ms``, set by ``seal``). The
ledger accepts it only when that time lies within a window around the time of the block
that orders it (``BlockProposal.proposed_ms``): at most ``max_age_ms`` before and at most
``max_lead_ms`` after. Without it an issuer could date a document 1970 or the year 2262.

The window is a rule of the ledger, so every node must use the same one: it is set in the
genesis (``Genesis.parameters.created_max_age_ms`` / ``created_max_lead_ms``), and a value
left at zero takes the default, 24 hours before and 5 minutes after. A node's API checks
documents against its own clock when they enter; the state machine checks them again
against the block's time when it applies the block, which is what decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from tdx.v1 import ledger_pb2

from ._errors import SchemaError

DEFAULT_MAX_AGE_MS = 24 * 3600 * 1000
DEFAULT_MAX_LEAD_MS = 5 * 60 * 1000
# The range a genesis may choose from: a window shorter than a minute would refuse documents
# that merely waited in a queue; one longer than a year no longer bounds anything useful.
MAX_AGE_RANGE_MS = (60 * 1000, 366 * 24 * 3600 * 1000)
MAX_LEAD_RANGE_MS = (1000, 24 * 3600 * 1000)


def _span(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if (ms >= size and ms % size == 0) or ms >= 10 * size:
            return f"{ms // size} {unit}"
    return f"{ms} ms"


@dataclass(frozen=True)
class CreatedWindow:
    """How far before (``max_age_ms``) and after (``max_lead_ms``) the ledger's time a
    document's ``created_ms`` may lie; both bounds are inclusive."""

    max_age_ms: int = DEFAULT_MAX_AGE_MS
    max_lead_ms: int = DEFAULT_MAX_LEAD_MS

    @classmethod
    def of(cls, genesis: ledger_pb2.Genesis) -> CreatedWindow:
        """The window a genesis sets (defaults for the parameters it leaves at zero)."""
        params = genesis.parameters
        return cls(params.created_max_age_ms or DEFAULT_MAX_AGE_MS,
                   params.created_max_lead_ms or DEFAULT_MAX_LEAD_MS)

    def check(self, created_ms: int, now_ms: int) -> None:
        """Raise SchemaError(``created_ms``) unless ``created_ms`` is in the window of
        ``now_ms`` (the block's time when applying, the node's clock at the API)."""
        if now_ms - self.max_age_ms <= created_ms <= now_ms + self.max_lead_ms:
            return
        side = "before" if created_ms < now_ms else "after"
        raise SchemaError("created_ms", f"is {_span(abs(now_ms - created_ms))} {side} the "
                                        f"ledger's time ({now_ms}); a document must be created "
                                        f"at most {_span(self.max_age_ms)} before and "
                                        f"{_span(self.max_lead_ms)} after it")


def check_parameters(parameters: ledger_pb2.NetworkParameters) -> None:
    """Refuse genesis parameters outside their ranges (zero means the default)."""
    for name, value, (low, high) in (
        ("created_max_age_ms", parameters.created_max_age_ms, MAX_AGE_RANGE_MS),
        ("created_max_lead_ms", parameters.created_max_lead_ms, MAX_LEAD_RANGE_MS),
    ):
        if value and not low <= value <= high:
            raise SchemaError(f"parameters.{name}", f"must be 0 (the default) or from {low} "
                                                    f"to {high} milliseconds")
