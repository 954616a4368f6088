"""The one way the library reports its own failures: logged once with the traceback, never raised
into a user's application, re-raised under this project's tests."""

from __future__ import annotations

import logging

import pytest

from agentsight_otel._log import guarded, internal_errors, raising_internal_errors


def _boom() -> None:
    raise ZeroDivisionError("internal bug")


def test_our_suite_runs_with_internal_errors_raising() -> None:
    assert raising_internal_errors()
    with pytest.raises(ZeroDivisionError), internal_errors("testing"):
        _boom()


@pytest.mark.usefixtures("internal_errors_hidden")
def test_users_get_one_record_with_the_traceback_and_no_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="agentsight_otel"):
        for _ in range(3):
            with internal_errors("hidden case"):
                _boom()
    records = [r for r in caplog.records if "hidden case" in r.getMessage()]
    assert len(records) == 1, "rate-limited: one record per cause"
    assert records[0].exc_info is not None and records[0].exc_info[0] is ZeroDivisionError
    assert "your application is unaffected" in records[0].getMessage()


@pytest.mark.usefixtures("internal_errors_hidden")
def test_the_decorator_returns_its_default(caplog: pytest.LogCaptureFixture) -> None:
    @guarded("decorated case", default=-1)
    def broken(x: int) -> int:
        return x // 0

    with caplog.at_level(logging.ERROR, logger="agentsight_otel"):
        assert broken(3) == -1
    assert any("decorated case" in r.getMessage() for r in caplog.records)


def test_the_decorator_re_raises_under_our_tests() -> None:
    @guarded("decorated raising case", default=None)
    def broken() -> None:
        _boom()

    with pytest.raises(ZeroDivisionError):
        broken()
