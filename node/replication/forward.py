"""Ordering by forwarding: hand envelopes to another node's LedgerService and wait.

A validator that is not the leader forwards to the leader; an observer forwards to any
validator (which forwards to its leader). Documents are signed by their issuers, so the
public client API is all forwarding needs. Outcomes come back as receipts or refusals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from tdx.node.replication.clients import ClientPool
from tdx.node.state.rules import Outcome, Refusal
from tdx.sdk import ApiError, Unavailable, document_id, ledger_pb2
from tdx.v1 import documents_pb2

log = logging.getLogger("tdx.node.replication.forward")

FORWARD_TIMEOUT = 15.0
LEADER_WAIT = 5.0


FORWARDED_BY = "tdx-forwarded-by"
"""Call metadata naming the member whose node forwarded the call."""


class Forwarder:
    """Forwards batches to the address ``target()`` names (None: no target known yet).

    Calls carry ``FORWARDED_BY`` metadata with this node's member id, so that a validator
    that is not the leader answers a validator's forward at once instead of forwarding it
    on (two nodes forwarding to each other across a leader change would wait on each
    other until the timeout). Its clients come from the node's ``clients`` pool.
    """

    def __init__(self, target: Callable[[], str | None], member_id: str,
                 clients: ClientPool) -> None:
        self._target = target
        self._member_id = member_id
        self._clients = clients

    async def order(self, envelopes: list[documents_pb2.Envelope]) -> dict[str, Outcome]:
        """Forward ``envelopes``; retry while no target is known or it is unreachable."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LEADER_WAIT
        while True:
            address = self._target()
            if address is not None:
                client = self._clients.client(address, timeout=FORWARD_TIMEOUT,
                                              metadata=[(FORWARDED_BY, self._member_id)])
                try:
                    outcomes = await client.submit_many(envelopes)
                except Unavailable as exc:
                    log.info("forwarding to %s failed: %s", address, exc)
                except ApiError as exc:
                    raise Refusal(exc.code, "forward.failed", exc.message) from None
                else:
                    if not all(isinstance(o, Unavailable) for o in outcomes):
                        return _outcomes(envelopes, outcomes)
                    log.info("%s is not the leader (any more); retrying", address)
            if loop.time() >= deadline:
                raise Refusal("UNAVAILABLE", "cluster.no_leader",
                              "no leader is reachable right now; retry shortly")
            await asyncio.sleep(0.1)


def _outcomes(envelopes: list[documents_pb2.Envelope],
              answers: list[ledger_pb2.Receipt | ApiError]) -> dict[str, Outcome]:
    out: dict[str, Outcome] = {}
    for envelope, answer in zip(envelopes, answers, strict=True):
        doc_id = document_id(envelope.body)
        if isinstance(answer, ApiError):
            code = "document.duplicate" if answer.code == "ALREADY_EXISTS" else (
                "forward.refused")
            out[doc_id] = Refusal(answer.code, code, answer.message, receipt=answer.receipt)
        else:
            out[doc_id] = answer
    return out
