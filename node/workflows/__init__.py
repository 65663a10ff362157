"""Customs workflows: each module adds the effects of its document kinds to ``EFFECTS``.

``tdx.node.effects`` imports this package at its bottom, so that every ``Ledger`` installs
the effects of every workflow. Add a workflow by adding its module's import here.
"""

from . import (
    aeo,
    certificates,
    confidential,
    declarations,
    governance,
    ip_rights,
    shipments,
)

__all__ = ["aeo", "certificates", "confidential", "declarations", "governance", "ip_rights",
           "shipments"]
