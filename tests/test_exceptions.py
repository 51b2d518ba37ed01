"""The error tree: one base class, context carried as attributes."""

from __future__ import annotations

import pytest

from intrace_analytics import (
    ApiError,
    AuthenticationError,
    CompletenessWarning,
    DataQualityWarning,
    IntraceError,
    IntraceWarning,
    NetworkError,
    RateLimitError,
    ResponseFormatError,
)


@pytest.mark.parametrize(
    "error", [ApiError, AuthenticationError, NetworkError, RateLimitError, ResponseFormatError]
)
def test_every_error_is_an_intrace_error(error: type[IntraceError]) -> None:
    assert issubclass(error, IntraceError)
    exc = error("boom", url="https://api.intrace.ai/v1/incidents")
    assert str(exc) == "boom"
    assert exc.message == "boom"
    assert exc.url == "https://api.intrace.ai/v1/incidents"


def test_errors_carry_their_context() -> None:
    api = ApiError("x", status_code=502, error_code="bad_gateway")
    assert (api.status_code, api.error_code) == (502, "bad_gateway")
    assert RateLimitError("x", retry_after=30.0).retry_after == 30.0
    assert RateLimitError("x").status_code == 429
    fmt = ResponseFormatError("x", offset=200, field="total")
    assert (fmt.offset, fmt.field) == (200, "total")
    auth = AuthenticationError("x", status_code=403)
    assert auth.status_code == 403


@pytest.mark.parametrize("warning", [DataQualityWarning, CompletenessWarning])
def test_warnings_are_user_warnings(warning: type[Warning]) -> None:
    assert issubclass(warning, IntraceWarning)
    assert issubclass(warning, UserWarning)
    with pytest.warns(warning, match="counted"):
        import warnings

        warnings.warn("counted", warning, stacklevel=1)
