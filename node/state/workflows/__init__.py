"""Customs workflows, and the registry of what each document kind does to state.

Each module keeps the effects of its kinds in its own ``EFFECTS``; ``EFFECTS`` here merges
them, and whoever opens a ``Ledger`` hands it this registry (``Ledger(store, EFFECTS)``):
the ledger imports no workflow. Add a workflow by adding its module here.
"""

from tdx.node.state.effects import Effect
from tdx.node.state.workflows import (
    aeo,
    certificates,
    confidential,
    declarations,
    governance,
    ip_rights,
    shipments,
)

EFFECTS: dict[str, Effect] = {
    **aeo.EFFECTS, **certificates.EFFECTS, **confidential.EFFECTS, **declarations.EFFECTS,
    **governance.EFFECTS, **ip_rights.EFFECTS, **shipments.EFFECTS,
}
"""Every kind's effect, for ``Ledger(store, EFFECTS)``."""

__all__ = ["EFFECTS", "aeo", "certificates", "confidential", "declarations", "governance",
           "ip_rights", "shipments"]
