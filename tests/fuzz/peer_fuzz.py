"""What the peer-service fuzz targets share: where the devnet stands, batches signed by a
validator's key around its Raft messages, sending with the invariants checked on every
answer, and the check that the cluster survived.

Invariants: no answer is UNKNOWN or INTERNAL; every node keeps running; afterwards the
cluster elects a leader, commits, and every node holds the same blocks.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from attack_net import AttackNet, batch_body, signed_batch
from fuzz_strategies import integers, messages, mutated
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from tdx.sdk import PEER_DOMAIN, ledger_pb2
from tdx.v1 import peer_pb2, peer_pb2_grpc, raft_pb2

FORBIDDEN = (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL)
FUZZ = settings(max_examples=1200, deadline=None, database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck))
KINDS = st.sampled_from(list(raft_pb2.MessageType.values()))
Send = Callable[[str, peer_pb2.PeerBatch], grpc.StatusCode]
RaftStrategy = Callable[[str, str], st.SearchStrategy[raft_pb2.RaftMessage]]


@dataclass
class Live:
    """The network as a fuzz run starts: leader, term, commit index, values near the live
    terms, indexes and heights, and real block hashes."""

    leader: str
    term: int
    commit: int
    near: list[int]
    hashes: list[bytes]

    @property
    def terms(self) -> st.SearchStrategy[int]:
        """Mostly the live term or the next one; now and then anything."""
        return st.one_of(st.sampled_from([self.term, self.term, self.term + 1]),
                         integers(64, False, self.near))

    @property
    def indexes(self) -> st.SearchStrategy[int]:
        """Mostly around the live log; now and then anything."""
        return st.one_of(st.integers(max(0, self.commit - 3), self.commit + 300),
                         integers(64, False, self.near))


def live_values(net: AttackNet) -> Live:
    """Wait for a whole, serving network and read where it stands."""
    net.heal()
    leader = net.leader()
    net.converged(net.commit())
    status = net.status(leader)
    near = sorted({max(0, v + d) for v in (status.term, status.commit_index, status.height)
                   for d in (-1, 0, 1, 2, 50)})
    hashes = [net.status(v).last_block_hash for v in net.validators]
    return Live(leader, status.term, status.commit_index, near, [*hashes, os.urandom(32)])


def sender(net: AttackNet, seen: Counter[str]) -> tuple[Send, Callable[[], None]]:
    """A function that sends a batch to a node over a kept channel and checks the answer,
    and one that closes the channels."""
    channels = {name: grpc.insecure_channel(net.api(name)) for name in net.validators}
    stubs = {name: peer_pb2_grpc.PeerServiceStub(c) for name, c in channels.items()}

    def send(to: str, batch: peer_pb2.PeerBatch) -> grpc.StatusCode:
        code, details = grpc.StatusCode.OK, ""
        try:
            stubs[to].Send(peer_pb2.SendRequest(batch=batch), timeout=5)
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details() or ""
        assert code not in FORBIDDEN, f"{to} answered {code.name}: {details}"
        seen[code.name] += 1
        net.assert_alive(to, after="a fuzzed peer batch")
        return code

    def close() -> None:
        for channel in channels.values():
            channel.close()

    return send, close


def junk_batches(net: AttackNet) -> st.SearchStrategy[tuple[str, peer_pb2.PeerBatch]]:
    """(receiver, batch) nobody signed: random or edited real bodies, real or random keys,
    random or edited signatures."""
    real = signed_batch(net.identity(net.validators[0]),
                        batch_body(net.network, net.validators[0], net.validators[1]))
    keys = [net.identity(v).public_key for v in net.validators]
    return st.tuples(st.sampled_from(net.validators), st.builds(
        peer_pb2.PeerBatch,
        body=st.one_of(st.binary(max_size=256), mutated(real.body)),
        signer=st.one_of(st.sampled_from(keys), st.binary(max_size=40)),
        signature=st.one_of(st.binary(max_size=80), mutated(real.signature))))


@st.composite
def signed(draw: st.DrawFn, net: AttackNet, live: Live,
           raft_message: RaftStrategy) -> tuple[str, peer_pb2.PeerBatch]:
    """(receiver, batch) signed by a validator (the leader half the time), carrying
    messages from ``raft_message``; now and then with random batch fields, or with its body
    edited before it is signed."""
    signer = draw(st.one_of(st.just(live.leader), st.sampled_from(net.validators)))
    to = draw(st.sampled_from([v for v in net.validators if v != signer]))
    body = batch_body(net.network, signer, to,
                      draw(st.lists(raft_message(signer, to), min_size=1, max_size=2)))
    if draw(st.integers(0, 9)) == 0:
        body.sequence = draw(integers(64, False))
    if draw(st.integers(0, 9)) == 0:
        body.sent_ms = draw(integers(64, True))
    if draw(st.integers(0, 3)) == 0:
        body.block_heights.extend(draw(st.lists(integers(64, False, live.near), max_size=3)))
        for _ in range(draw(st.integers(0, 3))):
            body.block_signatures.add().CopyFrom(draw(messages(
                ledger_pb2.BlockSignature.DESCRIPTOR)))
    raw = body.SerializeToString()
    if draw(st.integers(0, 9)) == 0:
        raw = draw(mutated(raw))
    identity = net.identity(signer)
    return to, peer_pb2.PeerBatch(body=raw, signer=identity.public_key,
                                  signature=identity.sign(PEER_DOMAIN, raw))


def random_raft(live: Live) -> RaftStrategy:
    """Raft messages: two in three plausible (live term or the next, a log term no later,
    indexes near the log, entries only in an APPEND), the others of random fields, mostly
    naming the batch's sender and receiver."""

    @st.composite
    def build(draw: st.DrawFn, signer: str, to: str) -> raft_pb2.RaftMessage:
        if draw(st.integers(0, 2)) != 0:
            term = draw(live.terms)
            message = raft_pb2.RaftMessage(
                type=draw(KINDS), to=to, term=term, log_term=draw(st.integers(0, term)),
                index=draw(live.indexes), commit=draw(live.indexes),
                reject=draw(st.booleans()), reject_hint=draw(live.indexes))
            setattr(message, "from", signer)
            if message.type == raft_pb2.MESSAGE_TYPE_APPEND and message.index < 2**64 - 3:
                for index in range(draw(st.integers(0, 2))):
                    message.entries.add(term=term, index=message.index + index + 1,
                                        type=raft_pb2.ENTRY_TYPE_NORMAL,
                                        data=draw(st.binary(max_size=32)))
            return message
        message = draw(messages(raft_pb2.RaftMessage.DESCRIPTOR, live.near))
        assert isinstance(message, raft_pb2.RaftMessage)
        if draw(st.integers(0, 9)) != 0:
            message.to = to
            setattr(message, "from", signer)
        if draw(st.integers(0, 3)) != 0:
            message.type = draw(KINDS)
        return message

    return build


def snapshot_raft(net: AttackNet, live: Live) -> RaftStrategy:
    """SNAPSHOT messages, mostly at the live term and near the live log, whose data is
    random, or a LedgerSnapshot (edited or not) naming a real or made-up block."""
    ledger_snapshots = st.builds(
        ledger_pb2.LedgerSnapshot, height=integers(64, False, live.near),
        block_hash=st.one_of(st.sampled_from(live.hashes), st.binary(max_size=40)),
        raft_index=live.indexes).map(lambda s: s.SerializeToString())
    data = st.one_of(st.binary(max_size=64), ledger_snapshots,
                     ledger_snapshots.flatmap(mutated))
    voters = st.one_of(st.just(net.validators), st.lists(
        st.sampled_from([*net.validators, "partner-1", "nobody", ""]), max_size=4))

    @st.composite
    def build(draw: st.DrawFn, signer: str, to: str) -> raft_pb2.RaftMessage:
        term = draw(live.terms)
        snapshot = raft_pb2.Snapshot(
            metadata=raft_pb2.SnapshotMetadata(
                index=draw(live.indexes), term=draw(st.one_of(st.integers(0, term),
                                                              live.terms)),
                conf_state=raft_pb2.ConfState(voters=draw(voters))),
            data=draw(data))
        message = raft_pb2.RaftMessage(type=raft_pb2.MESSAGE_TYPE_SNAPSHOT, to=to, term=term,
                                       snapshot=snapshot)
        setattr(message, "from", signer)
        return message

    return build


def fuzz_peers(net: AttackNet, batches: st.SearchStrategy[tuple[str, peer_pb2.PeerBatch]],
               seen: Counter[str]) -> None:
    """Send ``FUZZ.max_examples`` batches drawn from ``batches``."""
    send, close = sender(net, seen)
    try:

        @FUZZ
        @given(batches)
        def fuzz(attack: tuple[str, peer_pb2.PeerBatch]) -> None:
            send(*attack)

        fuzz()
    finally:
        close()
    print(sorted(seen.items()))


def survives(net: AttackNet, seen: Counter[str]) -> None:
    """The fuzz reached the nodes, and the cluster elects, commits and agrees."""
    assert sum(seen.values()) >= FUZZ.max_examples, seen
    net.assert_alive(after="the fuzz")
    net.leader()
    height = net.assert_serving()
    net.assert_one_history(height)
