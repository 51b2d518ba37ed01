"""Retry policy pieces: Retry-After parsing, the retry budget, shared counters."""

from __future__ import annotations

import email.utils
import threading
import time

import pytest

from intrace_analytics.api._retry import LoadStats, RetryBudget, retry_after_seconds


@pytest.mark.parametrize(("header", "seconds"), [("0", 0), ("1", 1), (" 120 ", 120)])
def test_retry_after_in_seconds(header: str, seconds: float) -> None:
    assert retry_after_seconds(header) == seconds


def test_retry_after_as_an_http_date() -> None:
    header = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 28 <= (retry_after_seconds(header) or 0) <= 30
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert retry_after_seconds(past) == 0


@pytest.mark.parametrize("header", [None, "soon", "-5", "1.5"])
def test_a_missing_or_unreadable_retry_after_is_no_advice(header: str | None) -> None:
    assert retry_after_seconds(header) is None


def test_a_long_retry_after_is_not_capped_here() -> None:
    # The client decides what is too long; parsing must not clamp (urllib3's default does).
    assert retry_after_seconds("86400") == 86400


def test_the_budget_runs_out_and_successes_earn_a_little_back() -> None:
    budget = RetryBudget(2)
    assert budget.take()
    assert budget.take()
    assert not budget.take()
    for _ in range(9):
        budget.earn()
    assert not budget.take()  # 0.9 of a retry is not a retry
    budget.earn()
    assert budget.take()
    for _ in range(100):
        budget.earn()
    assert budget.take()
    assert budget.take()
    assert not budget.take()  # never more than the initial budget


def test_stats_add_up_across_threads() -> None:
    stats = LoadStats()

    def work() -> None:
        for _ in range(1000):
            stats.add(requests=1, rate_limit_wait_s=0.5)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stats.requests == 4000
    assert stats.rate_limit_wait_s == 2000.0
