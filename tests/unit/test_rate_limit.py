"""The per-caller token bucket, and the settings that size it."""

from __future__ import annotations

from pathlib import Path

import pytest

from filedock.config import SettingsError, load_settings
from filedock.core.errors import RateLimited
from filedock.core.rate_limit import RateLimiter


class SteppedClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock()


def test_a_burst_is_allowed_then_the_next_request_is_limited(clock: SteppedClock) -> None:
    limiter = RateLimiter(2.0, 5, clock=clock)
    for _ in range(5):
        limiter.check("key-1:user-1")
    with pytest.raises(RateLimited) as limited:
        limiter.check("key-1:user-1")
    assert limited.value.retry_after == 1
    assert limited.value.message == "rate limit exceeded"


def test_tokens_come_back_at_the_configured_rate(clock: SteppedClock) -> None:
    limiter = RateLimiter(2.0, 2, clock=clock)
    limiter.check("k")
    limiter.check("k")
    clock.now += 0.5  # one token at 2 per second
    limiter.check("k")
    with pytest.raises(RateLimited):
        limiter.check("k")


def test_an_idle_caller_refills_to_the_burst_and_no_further(clock: SteppedClock) -> None:
    limiter = RateLimiter(10.0, 3, clock=clock)
    limiter.check("k")
    clock.now += 3600
    for _ in range(3):
        limiter.check("k")
    with pytest.raises(RateLimited):
        limiter.check("k")


def test_retry_after_is_whole_seconds_until_the_next_token(clock: SteppedClock) -> None:
    limiter = RateLimiter(0.1, 1, clock=clock)
    limiter.check("k")
    with pytest.raises(RateLimited) as limited:
        limiter.check("k")
    assert limited.value.retry_after == 10
    clock.now += 9.5
    with pytest.raises(RateLimited) as limited:
        limiter.check("k")
    assert limited.value.retry_after == 1
    clock.now += 0.5
    limiter.check("k")


def test_refused_requests_spend_nothing(clock: SteppedClock) -> None:
    limiter = RateLimiter(1.0, 1, clock=clock)
    limiter.check("k")
    for _ in range(100):
        with pytest.raises(RateLimited):
            limiter.check("k")
    clock.now += 1
    limiter.check("k")


def test_callers_have_buckets_of_their_own(clock: SteppedClock) -> None:
    limiter = RateLimiter(1.0, 1, clock=clock)
    limiter.check("key-1:alice")
    with pytest.raises(RateLimited):
        limiter.check("key-1:alice")
    limiter.check("key-1:bob")
    limiter.check("key-2:alice")


def test_rate_zero_turns_limiting_off(clock: SteppedClock) -> None:
    limiter = RateLimiter(0, 1, clock=clock)
    assert not limiter.enabled
    for _ in range(1000):
        limiter.check("k")
    assert len(limiter) == 0


def test_least_recently_used_bucket_is_dropped_past_max_keys(clock: SteppedClock) -> None:
    limiter = RateLimiter(0.001, 1, clock=clock, max_keys=2)
    limiter.check("a")
    limiter.check("b")
    with pytest.raises(RateLimited):
        limiter.check("a")  # a is now the most recently used
    limiter.check("c")  # drops b
    with pytest.raises(RateLimited):
        limiter.check("a")  # a kept its empty bucket
    limiter.check("b")  # b starts over with a full bucket
    assert len(limiter) == 2


def test_memory_stays_bounded_however_many_callers(clock: SteppedClock) -> None:
    limiter = RateLimiter(1.0, 1, clock=clock, max_keys=100)
    for n in range(10_000):
        limiter.check(f"caller-{n}")
    assert len(limiter) == 100


@pytest.mark.parametrize(
    ("rate", "burst", "max_keys"),
    [(-1.0, 1, 10), (float("inf"), 1, 10), (float("nan"), 1, 10), (1.0, 0, 10), (1.0, 1, 0)],
)
def test_nonsense_limits_are_refused(rate: float, burst: int, max_keys: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst, max_keys=max_keys)


def test_settings_default_to_twenty_per_second_with_bursts_of_forty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FILEDOCK_RATE_LIMIT_PER_SECOND", raising=False)
    monkeypatch.delenv("FILEDOCK_RATE_LIMIT_BURST", raising=False)
    settings = load_settings(data_dir=tmp_path)
    assert (settings.rate_limit_per_second, settings.rate_limit_burst) == (20.0, 40)


def test_settings_read_the_limits_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FILEDOCK_RATE_LIMIT_PER_SECOND", "0")
    monkeypatch.setenv("FILEDOCK_RATE_LIMIT_BURST", "3")
    settings = load_settings(data_dir=tmp_path)
    assert (settings.rate_limit_per_second, settings.rate_limit_burst) == (0.0, 3)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FILEDOCK_RATE_LIMIT_PER_SECOND", "-1"),
        ("FILEDOCK_RATE_LIMIT_PER_SECOND", "inf"),
        ("FILEDOCK_RATE_LIMIT_PER_SECOND", "lots"),
        ("FILEDOCK_RATE_LIMIT_BURST", "0"),
    ],
)
def test_bad_limit_settings_stop_start_up_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=f"^{variable}: .*'{value}'"):
        load_settings(data_dir=tmp_path)
