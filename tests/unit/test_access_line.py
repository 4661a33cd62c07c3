"""The direct access-log path writes exactly what the formatters write (issue #14)."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest

from scimlite.api.accesslog import DirectAccessLog, JsonFormatter, LogFormat, TextFormatter

NOW = 1_780_000_000.125  # exactly representable milliseconds


def fields(path: str) -> dict[str, Any]:
    return {
        "request_id": "ab12-3f",
        "remote": "127.0.0.1",
        "token": None if "anon" in path else "okta",
        "method": "GET",
        "path": path,
        "status": 200,
        "latency_ms": 0.42,
    }


def through_logging(formatter: logging.Formatter, access: dict[str, Any]) -> str:
    message = f"{access['method']} {access['path']} {access['status']}"
    record = logging.LogRecord("scimlite.access", logging.INFO, __file__, 1, message, (), None)
    record.created, record.msecs = NOW, 125.0
    record.access = access
    return formatter.format(record)


@pytest.mark.parametrize("path", ["/scim/v2/Users/1", "/anon/a b\n\u2028x\\y", '/q="=x"'])
@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_direct_line_is_the_formatters_line(path: str, log_format: LogFormat) -> None:
    handler = logging.StreamHandler(io.StringIO())
    direct = DirectAccessLog(handler, log_format)
    formatter = JsonFormatter() if log_format == "json" else TextFormatter()
    assert direct.line(fields(path), NOW) == through_logging(formatter, fields(path))


def test_direct_lines_reach_the_stream_one_per_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="scimlite.access")
    stream = io.StringIO()
    direct = DirectAccessLog(logging.StreamHandler(stream), "text")
    direct.write([fields("/a\nforged INFO line"), fields("/b")])
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].count(" INFO scimlite.access ") == 1
    assert lines[1].split()[5] == "/b"
    assert caplog.records == []  # written directly, not through logging


def test_no_line_when_access_logging_is_turned_down(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="scimlite.access")
    stream = io.StringIO()
    DirectAccessLog(logging.StreamHandler(stream), "json").write([fields("/quiet")])
    assert stream.getvalue() == ""
