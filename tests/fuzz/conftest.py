"""The fuzz rule and its budget.

Every fuzz test hands :func:`fuzz` a hypothesis strategy and a check; for every generated input the
check either returns (the input worked) or raises a :class:`~jahs_bo.exceptions.JahsBOError`
subclass. Any other exception fails the test, and so does an example that runs longer than
``HANG_SECONDS`` (a hang). Each test runs twice: ``quick`` (default run, few derandomized
examples: about 15 s for the suite on two cores) and ``deep`` (``-m slow``: 400
random examples).
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jahs_bo.exceptions import JahsBOError

#: Examples per test: the default run and the ``-m slow`` run.
QUICK, DEEP = 60, 400
#: Seconds one example may take before it counts as a hang.
HANG_SECONDS = 20


class Hang(Exception):
    """An example ran past ``HANG_SECONDS``."""


@contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    def ring(signum: int, frame: Any) -> None:
        raise Hang(f"an example ran past {seconds} s")

    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "fuzz" in metafunc.fixturenames:
        metafunc.parametrize(
            "fuzz",
            [
                pytest.param(QUICK, id="quick"),
                pytest.param(DEEP, id="deep", marks=pytest.mark.slow),
            ],
            indirect=True,
        )


Runner = Callable[[st.SearchStrategy[Any], Callable[[Any], object]], None]


@pytest.fixture
def fuzz(request: pytest.FixtureRequest) -> Runner:
    """``fuzz(strategy, check)``: run ``check`` on generated inputs under the fuzz rule."""
    n = int(request.param)

    def run(strategy: st.SearchStrategy[Any], check: Callable[[Any], object]) -> None:
        @settings(
            max_examples=n,
            deadline=None,  # hangs are caught by the alarm; slow examples are fine
            derandomize=n == QUICK,  # the default run is the same on every machine
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(strategy)
        def one(value: Any) -> None:
            # The rule: work, or raise a JahsBOError.
            with _alarm(HANG_SECONDS), suppress(JahsBOError):
                check(value)

        one()

    return run


#: Any JSON-like value, small.
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
#: Values a careless caller passes anywhere: JSON values, bytes, objects, huge numbers.
ANYTHING = JSON_VALUES | st.sampled_from(
    [b"bytes", object(), float("nan"), 10**400, (), frozenset({1}), print, Ellipsis]
)


@pytest.fixture(scope="session")
def json_values() -> st.SearchStrategy[Any]:
    """Strategy: any JSON-like value (nested lists and dicts, NaN and huge integers included)."""
    return JSON_VALUES


@pytest.fixture(scope="session")
def anything() -> st.SearchStrategy[Any]:
    """Strategy: JSON-like values plus bytes, arbitrary objects and huge numbers."""
    return ANYTHING
