"""The replicated state machine: what a committed block does to this node's ledger.

Owns the LevelDB store and its key layout (``store``), the ``Ledger`` that applies blocks
deterministically (``ledger``) and its read side (``reads``: documents, indexes, blocks and
committed workflow state; the other rooms read the ledger only through it, never a store
key), the checks every envelope passes where it enters and again when applied (``rules``,
``permissions``), and what each document kind does to state (``effects``, ``workflows/``;
the workflow registry is handed to the ledger as data).

Imports: tdx.sdk, tdx.v1 and tdx.node.errors only. Nothing from another room of tdx.node,
from tdx.consensus or from tdx.network: the application never imports consensus (as in
CometBFT's ABCI), so the same state machine serves validators and observers.
"""
