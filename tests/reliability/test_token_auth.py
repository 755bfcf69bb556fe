"""Bearer-token checks: invalid or missing tokens get 401, with no timing difference
that would let a client learn the token a character at a time."""

from __future__ import annotations

import ast
import inspect
import statistics
import time

import httpx
import pytest

from personal_assistant.api import security
from tests.reliability.conftest import Serve
from tests.reliability.evidence import EVIDENCE

TOKEN = "reliability-token-" + "0123456789abcdef" * 4
PROTECTED = [
    ("GET", "/health/database/pool"),
    ("GET", "/health/database/performance"),
    ("GET", "/health/database/optimization"),
    ("POST", "/health/database/performance/baseline"),
    ("GET", "/metrics"),
]
BAD_HEADERS = {
    "missing": {},
    "bearer without token": {"Authorization": "Bearer"},
    "wrong scheme": {"Authorization": f"Basic {TOKEN}"},
    "prefix only": {"Authorization": f"Bearer {TOKEN[:-1]}"},
    "one char off": {"Authorization": f"Bearer {TOKEN[:-1]}x"},
    "longer": {"Authorization": f"Bearer {TOKEN}x"},
    "other token": {"Authorization": "Bearer " + "z" * len(TOKEN)},
    "case changed": {"Authorization": f"Bearer {TOKEN.upper()}"},
}
ROUNDS = 300


def test_the_comparison_is_hmac_compare_digest_on_equal_length_digests() -> None:
    source = inspect.getsource(security.token_matches)
    assert "hmac.compare_digest" in source and "sha256" in source
    # No ordinary comparison of the token anywhere in the module.
    tree = ast.parse(inspect.getsource(security))
    compares = [n for n in ast.walk(tree) if isinstance(n, ast.Compare)]
    assert all(not any(isinstance(op, ast.Eq | ast.NotEq) for op in n.ops) for n in compares), (
        "token compared with == or !="
    )


async def test_invalid_or_missing_tokens_get_401_on_every_protected_endpoint(
    served: Serve, database_url: str
) -> None:
    app = served(database_url, health_token=TOKEN)
    async with httpx.AsyncClient(base_url=app.base_url, timeout=30) as client:
        for method, path in PROTECTED:
            for label, headers in BAD_HEADERS.items():
                response = await client.request(method, path, headers=headers)
                EVIDENCE.add(f"body:{path}", response.text)
                assert response.status_code == 401, (path, label)
                assert response.headers["www-authenticate"] == "Bearer"
                assert TOKEN not in response.text
            good = await client.request(method, path, headers={"Authorization": f"Bearer {TOKEN}"})
            assert good.status_code == 200, path


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


async def timing_leak_check(base_url: str, rounds: int) -> None:
    guesses = {
        "all but the last char right": f"Bearer {TOKEN[:-1]}x",
        "first char wrong": f"Bearer x{TOKEN[1:]}",
        "nothing right": "Bearer " + "z" * len(TOKEN),
    }
    times: dict[str, list[float]] = {label: [] for label in guesses}
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        for _ in range(20):  # warm-up
            await client.get("/metrics", headers={"Authorization": guesses["nothing right"]})
        for _ in range(rounds):  # interleaved, so drift hits every guess alike
            for label, header in guesses.items():
                started = time.perf_counter()
                response = await client.get("/metrics", headers={"Authorization": header})
                times[label].append(time.perf_counter() - started)
                assert response.status_code == 401
    medians = {label: _median_us(samples) for label, samples in times.items()}
    print(f"\nTIMING median µs per guess: {medians}")
    low, high = min(medians.values()), max(medians.values())
    # Generous bound for a shared 2-core machine: 20 % or 300 µs, whichever is larger.
    assert high - low < max(0.2 * low, 300.0), medians


async def test_response_time_does_not_depend_on_how_much_of_the_token_is_right(
    served: Serve, database_url: str
) -> None:
    await timing_leak_check(served(database_url, health_token=TOKEN).base_url, ROUNDS)


def test_the_comparison_itself_takes_the_same_time_for_any_guess() -> None:
    """In-process, without HTTP noise: prefix-right and all-wrong guesses cost alike."""
    right_prefix = TOKEN[:-1] + "x"
    wrong = "z" * len(TOKEN)
    rounds = 20_000
    timings: dict[str, list[float]] = {"prefix": [], "wrong": []}
    for _ in range(5):
        for label, guess in (("prefix", right_prefix), ("wrong", wrong)):
            started = time.perf_counter()
            for _ in range(rounds):
                security.token_matches(TOKEN, guess)
            timings[label].append((time.perf_counter() - started) / rounds)
    prefix, wrong_t = min(timings["prefix"]), min(timings["wrong"])
    assert abs(prefix - wrong_t) < 0.15 * min(prefix, wrong_t), timings
    assert security.token_matches(TOKEN, TOKEN)
    assert not security.token_matches(TOKEN, right_prefix)


@pytest.mark.soak
async def test_timing_with_ten_times_the_rounds(served: Serve, database_url: str) -> None:
    await timing_leak_check(served(database_url, health_token=TOKEN).base_url, 10 * ROUNDS)
