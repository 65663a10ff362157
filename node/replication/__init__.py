"""Replication: how this node gets the blocks of the ledger, in order, and proves them.

On validators: the Raft driver (``driver``) hosting tdx.consensus, its LevelDB log
(``storage``, ``wire``), the signed peer transport (``transport``) with election proofs
(``election``) and replay refusal (``replay``), forwarding to the leader (``forward``),
block certification (``certify``), snapshots (``snapshots``), voter changes (``voters``) and
divergence from the certified chain (``divergence``). On observers: following the validators
over the libp2p mesh (``follower``), and every node's link to the mesh (``mesh``). Both use
one pool of clients of other nodes' API (``clients``).

The seams are small interfaces: the driver is given a ``seams.StateMachine`` (the ledger)
and a ``seams.Transport``, and is the transport's ``seams.Inbox``; the driver, the forwarder
and the follower are ``ordering.Orderer``s and report an ``ordering.OrderingStatus``.

Imports: tdx.consensus, tdx.network, tdx.sdk, tdx.v1, the ``state`` room, and
tdx.node.errors / tdx.node.ratelimit. Never the ``api`` or ``ops`` rooms.
"""
