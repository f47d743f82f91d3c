"""No secret leaves the process in a failure reason: not in /healthz, a pong, an alert or a log line."""

import io
import json
import logging
import urllib.error
import urllib.request

import pytest
from openmodule_hookspecs import hookimpl

from openmodule_host.masking import add_secrets, mask_secrets, remove_secrets, secrets_of_url
from openmodule_host.observability import configure_logging
from tests.support import run_cli
from tests.support.databases import MIGRATIONS

#: the password is "s3cr@t-pw": a raw "@" makes the driver read "t-pw@127.0.0.1" as the host name.
RAW_AT_URL = "postgresql://postgres:s3cr@t-pw@127.0.0.1:5432/test"
PASSWORD_PARTS = ("s3cr@t-pw", "s3cr%40t-pw", "s3cr", "t-pw")


@pytest.fixture
def known_password():
    secrets = secrets_of_url(RAW_AT_URL)
    add_secrets(secrets)
    yield
    remove_secrets(secrets)


@pytest.mark.parametrize(
    "text",
    [
        RAW_AT_URL,
        "postgresql+psycopg://postgres:s3cr%40t-pw@127.0.0.1:5432/test",
        "(psycopg.OperationalError) failed to resolve host 't-pw@127.0.0.1': [Errno -2] Name or service not known",
        "password s3cr@t-pw rejected",
        "postgresql+psycopg://postgres:***@t-pw@127.0.0.1:5432/test",  # SQLAlchemy's own "hidden" rendering
    ],
)
def test_every_form_and_piece_of_a_known_password_is_masked(known_password, text):
    masked = mask_secrets(text)
    assert not any(part in masked for part in PASSWORD_PARTS), masked
    assert "***" in masked


def test_a_raw_at_in_a_url_password_is_masked_up_to_the_host_even_when_the_password_is_unknown():
    assert mask_secrets("postgresql://u:p@ss@127.0.0.1/test") == "postgresql://u:***@127.0.0.1/test"


def test_a_password_stops_being_masked_once_its_host_forgets_it():
    secrets = secrets_of_url("postgresql://u:hunter2hunter2@db/x")
    add_secrets(secrets)
    assert mask_secrets("said hunter2hunter2") == "said ***"
    remove_secrets(secrets)
    assert mask_secrets("said hunter2hunter2") == "said hunter2hunter2"


def test_a_short_piece_is_masked_only_before_an_at():
    secrets = secrets_of_url("postgresql://u:p@ss@db/x")
    add_secrets(secrets)
    try:
        assert mask_secrets("host 'ss@db' unknown; ss and p stay") == "host '***@db' unknown; ss and p stay"
    finally:
        remove_secrets(secrets)


def test_a_sentry_dsn_key_is_a_known_secret():
    assert "0123456789abcdef0123456789abcdef" in secrets_of_url(
        "https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/2", key_in_user=True)


def test_the_user_name_of_a_database_url_without_a_password_is_no_secret():
    """A trust-authenticated server's URL (``postgresql://postgres@host/db``) adds no secret: masking the user
    name everywhere turned every "postgresql" in a log line into "***ql"."""
    secrets = secrets_of_url("postgresql://postgres@127.0.0.1:5432/test")
    assert secrets == []
    add_secrets(secrets)
    try:
        assert mask_secrets("postgresql+psycopg://postgres:pw@db/x") == "postgresql+psycopg://postgres:***@db/x"
    finally:
        remove_secrets(secrets)


class NeedsDatabase:
    @hookimpl
    def database_migrations(self):
        return MIGRATIONS / "notes"

    @hookimpl
    def register_handlers(self, core):
        pass


@pytest.fixture
def logs():
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("DEBUG", "human", stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_password_with_a_raw_at_does_not_leak_through_a_failed_plugin(om_host, om_client, logs):
    om_client.subscribe("alert")
    lines: list[str] = []
    host = om_host(("notes", NeedsDatabase()), database_url=RAW_AT_URL, http="127.0.0.1:0", lines=lines,
                   strict=False)
    plugin = host.plugins["notes"]
    assert plugin.state == "failed" and "database migration failed" in plugin.reason
    assert "***@127.0.0.1" in plugin.reason  # the driver's "failed to resolve host 't-pw@127.0.0.1'", masked

    with pytest.raises(urllib.error.HTTPError) as unhealthy:  # 503: a required plugin failed
        urllib.request.urlopen(f"http://{host.http.address}/healthz", timeout=5)
    healthz = unhealthy.value.read().decode()
    assert json.loads(healthz)["plugins"]["notes"]["message"] == plugin.reason
    pong = om_client.get_health("openmodule_host")
    check = next(check for check in pong["checks"] if check["id"] == "plugin_notes")
    assert plugin.reason in check["message"]
    alert = om_client.wait_for_alert(alert_type="plugin_state", source="notes")
    assert alert["alert_meta"]["message"] == plugin.reason

    published = json.dumps([healthz, pong, alert]) + "\n".join(lines)
    for part in PASSWORD_PARTS:
        assert part not in published, part
        assert part not in logs.getvalue(), part
    assert "database migration failed" in logs.getvalue()


def test_the_cli_prints_a_database_error_without_the_password():
    result = run_cli("db", "current", "--plugin", "backend_x", "--database-url", RAW_AT_URL)
    assert result.returncode == 1 and "openmodule-host: database error" in result.stderr
    assert "***@127.0.0.1" in result.stderr
    for part in PASSWORD_PARTS:
        assert part not in result.stderr + result.stdout, part
