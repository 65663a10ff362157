"""Token buckets, the counted refusal log and admission's limits from the environment."""

from __future__ import annotations

import logging

import pytest
from tdx.node.api.admission import AdmissionLimits
from tdx.node.errors import NodeError
from tdx.node.ratelimit import KeyedBuckets, RefusalLog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_refills_at_its_rate_and_says_how_long_to_wait() -> None:
    clock = Clock()
    buckets = KeyedBuckets(rate=10, burst=20, clock=clock)
    assert buckets.take("a", 15) == 0.0
    assert buckets.take("a", 10) == pytest.approx(0.5)  # 5 left, 5 missing at 10 a second
    assert buckets.take("b", 20) == 0.0  # another key has its own bucket
    assert buckets.take("a", 5) == 0.0  # the refused take took nothing
    clock.now += 1.0
    assert buckets.take("a", 10) == 0.0
    assert buckets.take("a", 1) > 0
    # More than the bucket holds can never be taken whole: the wait is until it is full
    # (b, emptied a second ago, holds 10 of 20).
    assert buckets.take("b", 50) == pytest.approx(1.0)


def test_buckets_forget_the_least_recently_used_key_past_the_bound() -> None:
    clock = Clock()
    buckets = KeyedBuckets(rate=1, burst=2, max_keys=2, clock=clock)
    assert buckets.take("a", 2) == 0.0
    assert buckets.take("b", 2) == 0.0
    assert buckets.take("a", 1) > 0  # a is empty and now the most recently used
    assert buckets.take("c", 2) == 0.0  # b is forgotten
    assert buckets.take("a", 1) > 0
    assert buckets.take("b", 2) == 0.0  # b starts full again


def test_the_refusal_log_writes_the_first_in_full_and_the_rest_as_counts(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    refusals = RefusalLog(logging.getLogger("test.refusals"), clock=clock)
    with caplog.at_level(logging.INFO, logger="test.refusals"):
        for _ in range(24_000):
            refusals.refused("signature.invalid", "signature does not verify")
        refusals.refused("member.unknown", "signer is not a member", count=997)
        assert [r.getMessage() for r in caplog.records] == [
            "refused: signature does not verify (signature.invalid)",
            "refused: signer is not a member (member.unknown)",
        ]
        clock.now += 5.0
        refusals.refused("signature.invalid", "again")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[2] == ("refused 24,995 more envelopes in the last 5 s: "
                        "signature.invalid x23,999, member.unknown x996")
    assert lines[3] == "refused: again (signature.invalid)"
    assert len(lines) == 4


def test_limits_come_from_the_environment_and_bad_values_are_one_line() -> None:
    limits = AdmissionLimits.from_env({"TDX_MAX_BATCH_ENVELOPES": "100",
                                       "TDX_CONNECTION_RATE": "2.5",
                                       "TDX_MEMBER_BURST": "300"})
    assert (limits.max_batch, limits.connection_rate, limits.member_burst) == (100, 2.5, 300)
    assert AdmissionLimits.from_env({}) == AdmissionLimits()
    with pytest.raises(NodeError, match="TDX_MEMBER_RATE='fast' is not a number"):
        AdmissionLimits.from_env({"TDX_MEMBER_RATE": "fast"})
    with pytest.raises(NodeError, match="TDX_ADMISSION_THREADS must be positive"):
        AdmissionLimits.from_env({"TDX_ADMISSION_THREADS": "0"})
    with pytest.raises(NodeError, match="TDX_CONNECTION_BURST must be at least"):
        AdmissionLimits.from_env({"TDX_CONNECTION_BURST": "10"})
