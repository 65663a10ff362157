"""A devnet seen from an attacker that holds the validators' keys: signed peer batches,
raw Raft messages, and the checks that a network survived (alive, converged, one history).

``AttackNet`` wraps ``tdx.node.ops.devnet`` (3 validators and 1 observer on 127.0.0.1). It can
stop and start nodes (a restarted node is a child of the test process and is stopped when
the net closes), and sends ``PeerService.Send`` batches signed by any validator's key, with
a fresh ``sent_ms`` and a sequence number above the real sender's (``now_ms * 1_000_000``
plus a counter), exactly as a stolen key would.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import grpc
from tdx.node.ops.devnet import devnet_down, devnet_up
from tdx.node.ops.process import NodeProcess, spawn_node, wait_healthy
from tdx.sdk import (
    PEER_DOMAIN,
    ApiError,
    Client,
    Identity,
    block_hash,
    body_from_json,
    documents_pb2,
    ledger_pb2,
    seal,
    template,
)
from tdx.v1 import peer_pb2, peer_pb2_grpc, raft_pb2

MT = raft_pb2.MessageType
#: Refusal codes a node may answer a bad peer batch with; UNKNOWN and INTERNAL never.
REFUSALS = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED,
            grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.OUT_OF_RANGE,
            grpc.StatusCode.RESOURCE_EXHAUSTED)
CONVERGE_SECONDS = 20.0
_counter = itertools.count(1)


def fresh_sequence() -> int:
    """A sequence number above any real sender's (they count up from their start time)."""
    return int(time.time() * 1000) * 1_000_000 + next(_counter)


def raft(kind: int, sender: str, to: str, *, term: int, log_term: int = 0, index: int = 0,
         commit: int = 0, entries: Sequence[raft_pb2.Entry] = (),
         snapshot: raft_pb2.Snapshot | None = None, reject: bool = False,
         reject_hint: int = 0) -> raft_pb2.RaftMessage:
    """One Raft message as it travels in a PeerBatchBody."""
    message = raft_pb2.RaftMessage(type=kind, to=to, term=term, log_term=log_term,
                                   index=index, commit=commit, entries=list(entries),
                                   reject=reject, reject_hint=reject_hint)
    setattr(message, "from", sender)
    if snapshot is not None:
        message.snapshot.CopyFrom(snapshot)
    return message


def signed_batch(signer: Identity, body: peer_pb2.PeerBatchBody) -> peer_pb2.PeerBatch:
    """A PeerBatch whose body ``signer`` signed (``PEER_DOMAIN``)."""
    raw = body.SerializeToString()
    return peer_pb2.PeerBatch(body=raw, signer=signer.public_key,
                              signature=signer.sign(PEER_DOMAIN, raw))


def batch_body(network: str, sender: str, to: str,
               messages: Iterable[raft_pb2.RaftMessage] = (), *, sequence: int | None = None,
               sent_ms: int | None = None) -> peer_pb2.PeerBatchBody:
    """A well-formed batch body from ``sender`` to ``to``: fresh time and sequence."""
    body = peer_pb2.PeerBatchBody(
        network=network, to=to, messages=list(messages),
        sequence=fresh_sequence() if sequence is None else sequence,
        sent_ms=int(time.time() * 1000) if sent_ms is None else sent_ms)
    setattr(body, "from", sender)
    return body


def send_raw(api: str, batch: peer_pb2.PeerBatch,
             timeout: float = 5.0) -> tuple[grpc.StatusCode, str]:
    """Send one PeerBatch to the node at ``api``; return (code, details), OK included."""
    with grpc.insecure_channel(api) as channel:
        try:
            peer_pb2_grpc.PeerServiceStub(channel).Send(peer_pb2.SendRequest(batch=batch),
                                                       timeout=timeout)
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


def assert_refused(answer: tuple[grpc.StatusCode, str], code: grpc.StatusCode,
                   *words: str) -> None:
    """The answer is ``code`` and its details mention one of ``words`` (any case)."""
    got, details = answer
    assert got == code, f"expected {code.name}, got {got.name}: {details!r}"
    assert any(w in details.lower() for w in words), (
        f"{code.name} details {details!r} mention none of {words}")


def assert_refused_or_ignored(answer: tuple[grpc.StatusCode, str],
                              allowed: dict[grpc.StatusCode, tuple[str, ...]]) -> None:
    """OK (accepted and ignored), or one of the ``allowed`` refusals with its words."""
    got, details = answer
    if got == grpc.StatusCode.OK:
        return
    assert got in allowed, f"answered {got.name}: {details!r}"
    assert any(w in details.lower() for w in allowed[got]), (
        f"{got.name} details {details!r} mention none of {allowed[got]}")


class AttackNet:
    """A running 3-validator, 1-observer devnet and the attacker's view of it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest: dict[str, Any] = devnet_up(root, validators=3, observers=1, timeout=60)
        self.network: str = self.manifest["network"]
        self.nodes: dict[str, dict[str, Any]] = {n["name"]: n for n in self.manifest["nodes"]}
        self.validators = [n for n, v in self.nodes.items() if v["role"] == "validator"]
        self.processes: dict[str, NodeProcess] = {
            name: NodeProcess(data_dir=Path(n["data_dir"]), api_address=n["api"],
                              log_path=Path(n["log"]), process=None, daemon_pid=n["pid"])
            for name, n in self.nodes.items()}
        self._identities = {name: Identity.load(n["key"]) for name, n in self.nodes.items()}

    # -- nodes ---------------------------------------------------------------------------

    def identity(self, name: str) -> Identity:
        """The member key of node ``name``."""
        return self._identities[name]

    def api(self, name: str) -> str:
        """The API (and PeerService) address of node ``name``."""
        return str(self.nodes[name]["api"])

    def alive(self, name: str) -> bool:
        """Whether node ``name``'s process runs."""
        return self.processes[name].alive()

    def assert_alive(self, *names: str, after: str = "") -> None:
        """Every named node (all when none is named) still runs; else show its log."""
        for name in names or tuple(self.nodes):
            assert self.alive(name), (
                f"{name} stopped{' after ' + after if after else ''}:\n"
                f"{self.processes[name].log_tail(8)}")

    def status(self, name: str, timeout: float = 3.0) -> ledger_pb2.StatusResponse:
        """What node ``name`` reports (raises ApiError when it cannot answer)."""
        with Client(self.api(name), timeout=timeout) as client:
            return client.status()

    def leader(self, timeout: float = 20.0) -> str:
        """The leader a majority of running validators agree on, waiting for one."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            seen = []
            for name in self.validators:
                with contextlib.suppress(ApiError):
                    if self.alive(name):
                        seen.append(self.status(name, 1.0).leader)
            for candidate in set(seen):
                if candidate and seen.count(candidate) * 2 > len(self.validators):
                    return candidate
            time.sleep(0.1)
        raise AssertionError(f"no leader within {timeout:.0f}s; validators name {seen}")

    def followers(self, leader: str) -> list[str]:
        """The validators other than ``leader``."""
        return [name for name in self.validators if name != leader]

    def stop(self, *names: str) -> None:
        """Stop the named nodes (SIGTERM to all at once, then SIGKILL to any left)."""
        for name in names:
            with contextlib.suppress(ProcessLookupError):
                if self.alive(name):
                    os.kill(self.processes[name].pid, signal.SIGTERM)
        for name in names:
            self.processes[name].stop()

    def start(self, *names: str, timeout: float = 20.0) -> None:
        """Start the named nodes again on their data directories (all at once) and wait
        until each serves."""
        for name in names:
            node = self.nodes[name]
            self.processes[name] = spawn_node(Path(node["data_dir"]), node["api"],
                                              Path(node["log"]))
        for name in names:
            wait_healthy(self.processes[name], timeout)

    def heal(self) -> None:
        """Start again every node an earlier test stopped (a test starts from a whole net)."""
        self.start(*(name for name in self.nodes if not self.alive(name)))

    def close(self) -> None:
        """Stop every node this net started, then let the devnet forget them."""
        self.stop(*self.processes)
        devnet_down(self.root)

    # -- documents and ledgers -----------------------------------------------------------

    def envelope(self) -> documents_pb2.Envelope:
        """A fresh valid export declaration, signed by customs-1."""
        body = body_from_json(self.network, template("export_declaration"))
        return seal(self.identity("customs-1"), body)

    def commit(self, count: int = 1, timeout: float = 20.0) -> int:
        """Submit ``count`` valid documents through whichever validator takes them; return
        the height of the last one's block."""
        deadline = time.monotonic() + timeout
        height = 0
        errors: list[str] = []
        for _ in range(count):
            envelope = self.envelope()
            while True:
                assert time.monotonic() < deadline, f"nothing commits: {errors[-3:]}"
                name = self.validators[len(errors) % len(self.validators)]
                try:
                    with Client(self.api(name), timeout=5) as client:
                        receipt = client.submit(envelope)
                except ApiError as exc:
                    if exc.code == "ALREADY_EXISTS" and exc.receipt is not None:
                        receipt = exc.receipt
                    else:
                        errors.append(f"{name}: {exc.code} {exc}")
                        time.sleep(0.2)
                        continue
                assert receipt.result.status == ledger_pb2.RESULT_STATUS_ACCEPTED
                height = max(height, receipt.height)
                break
        return height

    def converged(self, min_height: int, names: Sequence[str] = (),
                  timeout: float = CONVERGE_SECONDS) -> ledger_pb2.StatusResponse:
        """Wait until the named nodes (all by default) hold the same last block, at
        ``min_height`` or above; fail naming each node's height and liveness."""
        names = list(names or self.nodes)
        deadline = time.monotonic() + timeout
        seen: dict[str, tuple[int, str]] = {}
        while time.monotonic() < deadline:
            states = {}
            for name in names:
                try:
                    states[name] = self.status(name, 2.0)
                except ApiError as exc:
                    seen[name] = (-1, f"{exc.code} alive={self.alive(name)}")
            seen.update({n: (s.height, s.last_block_hash.hex()[:12]) for n, s in states.items()})
            if len(states) == len(names) and len(
                {(s.height, s.last_block_hash) for s in states.values()}
            ) == 1 and next(iter(states.values())).height >= min_height:
                return next(iter(states.values()))
            time.sleep(0.2)
        raise AssertionError(f"nodes did not converge at height >= {min_height}: {seen}")

    def assert_one_history(self, height: int) -> None:
        """Every node holds identical block hashes for heights 1..``height``."""
        chains = {}
        for name in self.nodes:
            with Client(self.api(name), timeout=10) as client:
                chains[name] = [block_hash(client.get_block(h).header)
                                for h in range(1, height + 1)]
        first = chains[self.validators[0]]
        for name, chain in chains.items():
            forks = [h + 1 for h, (a, b) in enumerate(zip(first, chain, strict=True)) if a != b]
            assert not forks, f"{name} holds other blocks at heights {forks[:5]}"

    def assert_serving(self, timeout: float = CONVERGE_SECONDS) -> int:
        """The whole net is alive, commits a new document, and converges on it; returns
        the height."""
        self.assert_alive()
        height = self.commit(timeout=timeout)
        self.converged(height, timeout=timeout)
        return height

    # -- the attacker --------------------------------------------------------------------

    def send(self, signer: str, to: str, messages: Iterable[raft_pb2.RaftMessage] = (), *,
             sequence: int | None = None) -> tuple[grpc.StatusCode, str]:
        """A well-formed batch of ``messages`` signed by validator ``signer`` to node
        ``to``; returns the answer (code, details)."""
        self.assert_alive(to, after="an earlier message")
        body = batch_body(self.network, signer, to, messages, sequence=sequence)
        code, details = send_raw(self.api(to), signed_batch(self.identity(signer), body))
        if code == grpc.StatusCode.UNAVAILABLE:  # a node that is stopping: say why
            details += f" [{to}'s log ends: {self.processes[to].log_tail(3)}]"
        return code, details
