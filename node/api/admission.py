"""Admission: the checks every submitted envelope passes before it waits to be ordered.

Envelopes arrive in batches from three doors: ``Submit`` and ``SubmitBatch`` on the client
API (from anyone who can reach the port) and the mesh's ``documents`` gossip (from a
member's node). Whatever the door, a batch goes through the same steps, in this order:

1. size: a batch holds at most ``max_batch`` envelopes (else INVALID_ARGUMENT
   ``batch.too_large``, naming the limit);
2. the source's budget: each source (a gRPC connection, by the peer address its context
   gives, or a mesh sender) spends one token per envelope from a bucket of
   ``connection_rate`` tokens a second and ``connection_burst`` capacity; and at most
   ``max_checking`` envelopes are being checked at once over all sources. Over budget, the
   whole batch is refused RESOURCE_EXHAUSTED with a RetryInfo saying when to retry;
3. the checks (``rules.check_envelope``: size, membership, signature, schema, role) and the
   replay lookup run in a thread pool of ``threads`` workers, in slices of ``slice``
   envelopes, never on the event loop: Ed25519 verification in PyNaCl releases the GIL, so
   the event loop keeps its Raft ticks and heartbeats however large the batch is;
4. the member's budget: envelopes that passed spend tokens of their signer's bucket
   (``member_rate``, ``member_burst``); only envelopes that verified do, so nobody can spend
   a member's budget with junk under that member's key;
5. ordering: the sequencer queues the rest; their receipts come when their block is durable.

Each refusal is per envelope (or per batch, for steps 1 and 2) and changes no state; it is
counted in metrics and logged through ``RefusalLog``, which writes counts per reason a few
times a minute, never a line per envelope.

The limits come from the environment (``AdmissionLimits.from_env``), with these defaults,
generous enough for the benchmarks' loads (a cluster here orders about 5,000 documents a
second; a validator forwards all its clients' documents over one connection):

======================== ============ =========================================
variable                 default      meaning
======================== ============ =========================================
TDX_MAX_BATCH_ENVELOPES  2048         envelopes in one SubmitBatch or gossip
TDX_CONNECTION_RATE      5000         envelopes a second, per connection
TDX_CONNECTION_BURST     10000        bucket size per connection
TDX_MEMBER_RATE          10000        accepted envelopes a second, per member
TDX_MEMBER_BURST         20000        bucket size per member
TDX_MAX_CHECKING         20000        envelopes being checked at once, in all
TDX_ADMISSION_THREADS    2            threads that check signatures
======================== ============ =========================================
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields

from tdx.node.api.errors import Throttled
from tdx.node.api.metrics import NodeMetrics
from tdx.node.api.sequencer import Sequencer
from tdx.node.errors import NodeError
from tdx.node.ratelimit import KeyedBuckets, RefusalLog
from tdx.node.state.ledger import Ledger
from tdx.node.state.rules import Refusal, check_envelope
from tdx.sdk import document_id, ledger_pb2
from tdx.v1 import documents_pb2

log = logging.getLogger("tdx.node.api.admission")

Outcome = ledger_pb2.Receipt | Refusal
"""An envelope's outcome: its receipt, or why it was refused (ALREADY_EXISTS for a replay,
with the original receipt)."""

_ENV = {"max_batch": "TDX_MAX_BATCH_ENVELOPES", "connection_rate": "TDX_CONNECTION_RATE",
        "connection_burst": "TDX_CONNECTION_BURST", "member_rate": "TDX_MEMBER_RATE",
        "member_burst": "TDX_MEMBER_BURST", "max_checking": "TDX_MAX_CHECKING",
        "threads": "TDX_ADMISSION_THREADS"}
SIGNER_BYTES = 32
SIGNATURE_BYTES = 64


@dataclass(frozen=True)
class AdmissionLimits:
    """The bounds of admission (see the module docstring for each)."""

    max_batch: int = 2048
    connection_rate: float = 5000.0
    connection_burst: float = 10000.0
    member_rate: float = 10000.0
    member_burst: float = 20000.0
    max_checking: int = 20000
    threads: int = 2
    slice: int = 128

    def __post_init__(self) -> None:
        for item in fields(self):
            if getattr(self, item.name) <= 0:
                raise ValueError(f"{_ENV.get(item.name, item.name)} must be positive")
        for burst, name in ((self.connection_burst, "TDX_CONNECTION_BURST"),
                            (self.member_burst, "TDX_MEMBER_BURST"),
                            (self.max_checking, "TDX_MAX_CHECKING")):
            if burst < self.max_batch:
                raise ValueError(f"{name} must be at least TDX_MAX_BATCH_ENVELOPES "
                                 f"({self.max_batch}), or a full batch could never enter")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> AdmissionLimits:
        """The limits, each from its environment variable where set; NodeError (one
        line) for a value that is not a positive number."""
        values: dict[str, float] = {}
        for name, variable in _ENV.items():
            raw = env.get(variable)
            if raw is None or raw == "":
                continue
            try:
                number = float(raw)
            except ValueError:
                raise NodeError(f"{variable}={raw!r} is not a number") from None
            values[name] = int(number) if name in ("max_batch", "max_checking",
                                                   "threads") else number
        try:
            return cls(**values)  # type: ignore[arg-type]
        except ValueError as exc:
            raise NodeError(str(exc)) from None


@dataclass(frozen=True)
class _Passed:
    doc_id: str
    envelope: documents_pb2.Envelope


class Admission:
    """Checks batches off the event loop, keeps the budgets, and hands the rest to the
    sequencer. Call ``admit`` from the event loop; ``close`` when the node stops."""

    def __init__(self, ledger: Ledger, sequencer: Sequencer,
                 limits: AdmissionLimits | None = None,
                 metrics: NodeMetrics | None = None) -> None:
        self.ledger = ledger
        self.sequencer = sequencer
        self.limits = limits or AdmissionLimits()
        self.metrics = metrics
        self.refusals = RefusalLog(log)
        self._sources = KeyedBuckets(self.limits.connection_rate, self.limits.connection_burst)
        self._members = KeyedBuckets(self.limits.member_rate, self.limits.member_burst)
        self._checking = 0
        self._pool = ThreadPoolExecutor(max_workers=self.limits.threads,
                                        thread_name_prefix="tdx-admit")

    def close(self) -> None:
        """Stop the checking threads (checks under way finish first)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def admit(self, envelopes: Sequence[documents_pb2.Envelope],
                    source: str) -> list[Outcome]:
        """Admit a batch from ``source``; return one outcome per envelope, in order.

        Raises Refusal for the whole batch when it is too large or over the source's
        budget or the node's checking bound (steps 1 and 2).
        """
        count = len(envelopes)
        if not count:
            return []
        self._gate(count, source)
        self._checking += count
        try:
            checked = await self._check(envelopes)
        finally:
            self._checking -= count
        self._charge_members(checked)
        outcomes = await self._order(checked)
        for outcome in outcomes:
            if isinstance(outcome, Refusal):
                self._refused(outcome)
        return outcomes

    # -- steps ---------------------------------------------------------------------------

    def check_size(self, count: int) -> None:
        """Refuse (INVALID_ARGUMENT, naming the limit) a batch of more than ``max_batch``."""
        if count > self.limits.max_batch:
            refusal = Refusal("INVALID_ARGUMENT", "batch.too_large",
                              f"a batch holds at most {self.limits.max_batch} envelopes "
                              f"(TDX_MAX_BATCH_ENVELOPES); this one holds {count}",
                              "envelopes")
            self._refused(refusal, count)
            raise refusal

    def _gate(self, count: int, source: str) -> None:
        self.check_size(count)
        limits = self.limits
        refusal: Refusal | None = None
        if self._checking + count > limits.max_checking:
            refusal = Throttled("RESOURCE_EXHAUSTED", "node.busy",
                                f"{self._checking} envelopes are being checked; retry "
                                "shortly", 500)
        else:
            wait = self._sources.take(source, count)
            if wait:
                refusal = Throttled(
                    "RESOURCE_EXHAUSTED", "connection.rate_limited",
                    f"this connection may submit {limits.connection_rate:g} envelopes a "
                    f"second (bursts of {limits.connection_burst:g}); retry in "
                    f"{wait:.2f} s", int(wait * 1000) + 1)
        if refusal is not None:
            self._refused(refusal, count)
            raise refusal

    async def _check(self, envelopes: Sequence[documents_pb2.Envelope]) -> (
            list[_Passed | Refusal]):
        loop = asyncio.get_running_loop()
        size = self.limits.slice
        slices = [list(envelopes[i:i + size]) for i in range(0, len(envelopes), size)]
        results = await asyncio.gather(*(loop.run_in_executor(self._pool, self._check_slice, s)
                                         for s in slices))
        return [outcome for part in results for outcome in part]

    def _check_slice(self, envelopes: list[documents_pb2.Envelope]) -> list[_Passed | Refusal]:
        """On a checking thread: the checks and the replay lookup of each envelope."""
        return [self._check_one(envelope) for envelope in envelopes]

    def _check_one(self, envelope: documents_pb2.Envelope) -> _Passed | Refusal:
        shape = _shape(envelope)
        if shape is not None:
            return shape
        doc_id = document_id(envelope.body)
        ledger = self.ledger
        try:
            check_envelope(envelope, ledger.network, ledger, ledger.verified)
        except Refusal as refusal:
            return refusal
        except Exception as exc:  # a body the schema code did not expect: refuse it
            log.debug("checking document %s failed", doc_id, exc_info=True)
            return Refusal("INVALID_ARGUMENT", "document.malformed",
                           f"the body could not be checked as a document ({exc})"[:300],
                           "body")
        existing = ledger.record(doc_id)
        if existing is not None:
            return _replay(existing.receipt)
        return _Passed(doc_id, envelope)

    def _charge_members(self, checked: list[_Passed | Refusal]) -> None:
        """Spend each signer's tokens for its envelopes that passed; refuse them all if
        the signer's bucket cannot pay."""
        per_signer: dict[bytes, int] = {}
        for item in checked:
            if isinstance(item, _Passed):
                signer = bytes(item.envelope.signer)
                per_signer[signer] = per_signer.get(signer, 0) + 1
        over: dict[bytes, Refusal] = {}
        for signer, count in per_signer.items():
            wait = self._members.take(signer, count)
            if wait:
                over[signer] = Throttled(
                    "RESOURCE_EXHAUSTED", "member.rate_limited",
                    f"a member may submit {self.limits.member_rate:g} documents a second "
                    f"(bursts of {self.limits.member_burst:g}); retry in {wait:.2f} s",
                    int(wait * 1000) + 1)
        if over:
            for i, item in enumerate(checked):
                if isinstance(item, _Passed) and bytes(item.envelope.signer) in over:
                    checked[i] = over[bytes(item.envelope.signer)]

    async def _order(self, checked: list[_Passed | Refusal]) -> list[Outcome]:
        waits: dict[int, asyncio.Future[ledger_pb2.Receipt]] = {}
        replays: set[int] = set()
        outcomes: list[Outcome | None] = []
        for i, item in enumerate(checked):
            if isinstance(item, Refusal):
                outcomes.append(item)
                continue
            outcomes.append(None)
            waiting = self.sequencer.waiter(item.doc_id)
            if waiting is not None:
                # Submitted before (perhaps earlier in this batch) and not durable yet.
                waits[i] = asyncio.shield(waiting)
                replays.add(i)
                continue
            try:
                # Shielded: a caller that hangs up must not cancel the sequencer's future,
                # which other submitters of the same document may be waiting on.
                waits[i] = asyncio.shield(self.sequencer.enqueue(item.doc_id, item.envelope))
            except Refusal as refusal:
                outcomes[i] = refusal
        if waits:
            done = await asyncio.gather(*waits.values(), return_exceptions=True)
            for i, result in zip(waits, done, strict=True):
                if isinstance(result, ledger_pb2.Receipt):
                    outcomes[i] = _replay(result) if i in replays else result
                elif isinstance(result, Refusal):
                    outcomes[i] = result
                elif isinstance(result, BaseException):
                    raise result
        return [o for o in outcomes if o is not None]

    def _refused(self, refusal: Refusal, count: int = 1) -> None:
        if self.metrics is not None:
            self.metrics.refusals.labels(refusal.code).inc(count)
        level = logging.WARNING if refusal.status == "PERMISSION_DENIED" else logging.INFO
        self.refusals.refused(refusal.code, refusal.message, count, level)


def _replay(receipt: ledger_pb2.Receipt) -> Refusal:
    return Refusal("ALREADY_EXISTS", "document.duplicate",
                   "this document is already on the ledger", receipt=receipt)


def _shape(envelope: documents_pb2.Envelope) -> Refusal | None:
    """Refuse an envelope whose fields cannot be right whoever signed it."""
    if not envelope.body:
        return Refusal("INVALID_ARGUMENT", "envelope.malformed", "the envelope has no body",
                       "envelope.body")
    if len(envelope.signer) != SIGNER_BYTES:
        return Refusal("INVALID_ARGUMENT", "envelope.malformed",
                       f"signer must be a {SIGNER_BYTES}-byte Ed25519 public key, not "
                       f"{len(envelope.signer)} bytes", "envelope.signer")
    if len(envelope.signature) != SIGNATURE_BYTES:
        return Refusal("INVALID_ARGUMENT", "envelope.malformed",
                       f"signature must be {SIGNATURE_BYTES} bytes, not "
                       f"{len(envelope.signature)}", "envelope.signature")
    return None
