"""What ``Client`` and ``AsyncClient`` share: the target, its TLS pin, retries, request
building and answer decoding, and how calls are split into batches.

A client plans its connection when it is made (``_trust.plan``: plaintext for loopback,
else TLS pinned to the member key its trust names) and opens the channel on first use.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import grpc
import grpc.aio
from tdx.v1 import documents_pb2, ledger_pb2

from ._errors import AlreadyExists, ApiError, Rejected, TlsError, api_error
from ._retry import DEFAULT_RETRY, Retries, RetryPolicy
from ._trust import Trust, handshake_failed, plan

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
# A batch call carries at most this many envelopes and about this many bytes.
BATCH_ENVELOPES = 256
BATCH_BYTES = 2 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0

CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 1),
]

Outcome = ledger_pb2.Receipt | ApiError


def batches(envelopes: Sequence[documents_pb2.Envelope]) -> Iterator[list[documents_pb2.Envelope]]:
    """Split envelopes into calls of at most BATCH_ENVELOPES and about BATCH_BYTES each."""
    batch: list[documents_pb2.Envelope] = []
    size = 0
    for envelope in envelopes:
        cost = envelope.ByteSize() + 8
        if batch and (len(batch) >= BATCH_ENVELOPES or size + cost > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(envelope)
        size += cost
    if batch:
        yield batch


class _ClientBase:
    """What both clients share: the target, retries, request building and answer decoding."""

    def __init__(self, target: str, timeout: float, metadata: Sequence[tuple[str, str]] = (),
                 retry: RetryPolicy | None = DEFAULT_RETRY, *, server_key: bytes | None = None,
                 trust: Trust | None = None, insecure: bool = False,
                 channel_given: bool = False) -> None:
        if not target or ":" not in target or "://" in target:
            raise ValueError(f"node address {target!r} must be HOST:PORT (no scheme)")
        self.target = target
        self.timeout = timeout
        self.metadata = tuple(metadata)
        self.retry = retry
        self._server_key, self._trust, self._insecure = server_key, trust, insecure
        # Planned now, so that a client that may not connect (plaintext to another host, no
        # key to pin) fails where it is made; a channel given by the caller is its own.
        self._pin = None if channel_given else plan(target, server_key=server_key,
                                                    trust=trust, insecure=insecure)

    def _repinned(self) -> bool:
        """After a failed pinned handshake: whether the trust now names other keys for the
        target (a rotation the ledger recorded since); if so they are the pin from now on."""
        if self._pin is None or self._insecure or self._server_key is not None:
            return False
        try:
            pin = plan(self.target, trust=self._trust)
        except TlsError:
            return False
        if pin is None or pin.keys == self._pin.keys:
            return False
        self._pin = pin
        return True

    def _handshake_failure(self, exc: grpc.RpcError | grpc.aio.AioRpcError) -> str | None:
        """The details of a call that failed in the TLS handshake of a pinned channel."""
        details = getattr(exc, "details", None)
        text = str(details() or "") if callable(details) else ""
        return text if self._pin is not None and handshake_failed(text) else None

    def _retries(self, submit: bool = False) -> Retries:
        return Retries(self.retry, self.timeout, submit=submit)

    @staticmethod
    def _settled(error: ApiError, retries: Retries) -> ledger_pb2.Receipt | None:
        """The receipt a retried submit ends with when an earlier attempt got it ordered."""
        if retries.tries > 1 and isinstance(error, AlreadyExists) and error.receipt:
            return error.receipt
        return None

    @staticmethod
    def _receipt_or_raise(receipt: ledger_pb2.Receipt) -> ledger_pb2.Receipt:
        if receipt.result.status != ledger_pb2.RESULT_STATUS_ACCEPTED:
            raise Rejected(
                f"rejected by the ledger: {receipt.result.code}: {receipt.result.reason}",
                receipt=receipt,
            )
        return receipt

    @staticmethod
    def _outcomes(response: ledger_pb2.SubmitBatchResponse) -> list[Outcome]:
        out: list[Outcome] = []
        for outcome in response.outcomes:
            if outcome.error_code:
                receipt = outcome.receipt if outcome.HasField("receipt") else None
                out.append(api_error(outcome.error_code, outcome.error_message, receipt))
            else:
                out.append(outcome.receipt)
        return out

    @staticmethod
    def _query(ucr: str, kind: str, issuer: str, limit: int, token: str) -> ledger_pb2.QueryRequest:
        if not (ucr or kind or issuer):
            raise ValueError("query needs a ucr, a kind or an issuer")
        return ledger_pb2.QueryRequest(ucr=ucr, kind=kind, issuer=issuer, limit=limit,
                                       page_token=token)
