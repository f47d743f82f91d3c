"""Log output: per-plugin loggers, human and JSON formats, secrets never printed."""

import io
import json
import logging

import pytest

from openmodule_host.observability import configure_logging, mask_secrets
from tests.support import HostProcess


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://postgres:hunter2@127.0.0.1:5432/test", "postgresql://postgres:***@127.0.0.1:5432/test"),
        ("dsn https://abc123def@o42.ingest.sentry.io/7 set", "dsn https://***@o42.ingest.sentry.io/7 set"),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("mail me at someone@example.com", "mail me at someone@example.com"),
        ("tcp://127.0.0.1:10100", "tcp://127.0.0.1:10100"),
    ],
)
def test_url_credentials_and_dsn_keys_are_masked(text, masked):
    assert mask_secrets(text) == masked


@pytest.fixture
def captured():
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_level_logger_message_and_traceback_masked(captured):
    configure_logging("INFO", "json", captured)
    log = logging.getLogger("backend_x")
    log.info("connecting to %s", "postgresql://u:pw@db/x")
    try:
        raise RuntimeError("login https://key@sentry.example/1 failed")
    except RuntimeError:
        log.exception("boom")
    first, second = (json.loads(line) for line in captured.getvalue().splitlines())
    assert (first["level"], first["logger"]) == ("INFO", "backend_x")
    assert first["message"] == "connecting to postgresql://u:***@db/x"
    assert "RuntimeError: login https://***@sentry.example/1 failed" in second["exception"]
    assert "pw" not in captured.getvalue() and "key@" not in captured.getvalue()


def test_the_human_format_masks_too(captured):
    configure_logging("DEBUG", "human", captured)
    logging.getLogger("masking_test").warning("dsn=%s", "https://abcdef@o1.ingest.sentry.io/2")
    line = captured.getvalue()
    assert "WARNING [masking_test] dsn=https://***@o1.ingest.sentry.io/2" in line


def test_the_cli_logs_json_when_asked(broker_env):
    with HostProcess(["--plugins", "hello", "--log-format", "json"], env=broker_env) as host:
        host.wait_ready()
        assert host.stop() == 0
    records = [json.loads(line) for line in host.stderr if line.startswith("{")]
    assert any(record["logger"] == "hello" and "saying 'Hello'" in record["message"] for record in records)
    assert all(line.startswith("{") for line in host.stderr if line)
