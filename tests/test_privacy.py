"""Privacy: anonymize requests reach the plugins that opted in; the DSGVO config step; retention settings."""

from datetime import timedelta

from openmodule_hookspecs import AnonymizeMessage, PrivacySettings, PrivacyTime, hookimpl

from openmodule_host.privacy import copy_dsgvo_files
from tests.support import eventually
from tests.support.plugins import Recorder


class Forgetful:
    def __init__(self):
        self.requests = []

    @hookimpl
    def anonymize(self, core, message):
        self.requests.append((core.name, message.session_id, message.vehicle_ids))


def test_anonymize_messages_reach_every_plugin_that_implements_the_hook(om_host, om_client):
    first, second, indifferent = Forgetful(), Forgetful(), Recorder()
    host = om_host(("first", first), ("second", second), ("indifferent", indifferent))
    assert host.plugins["first"].topics == ["privacy"] and host.plugins["indifferent"].topics == ["t"]

    om_client.publish("privacy", AnonymizeMessage(name="om_dsgvo_1", session_id="s-42",
                                                  vehicle_ids=["1717235990123456789"]))
    om_client.publish("privacy", {"type": "anonymize", "vehicle_ids": []})

    eventually(lambda: len(first.requests) == 2 and len(second.requests) == 2)
    assert first.requests == [("first", "s-42", ["1717235990123456789"]), ("first", None, [])]


def test_a_raising_anonymize_hook_is_counted_like_any_handler_error(om_host, om_client):
    class Failing:
        @hookimpl
        def anonymize(self, core, message):
            raise RuntimeError("database locked")

    host = om_host(("failing", Failing()))
    om_client.publish("privacy", AnonymizeMessage(vehicle_ids=["1"]))
    eventually(lambda: host.plugins["failing"].stats.handler_errors == 1)


def test_the_dsgvo_step_copies_existing_files_atomically(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.yml").write_text("garage: 1\n")
    written = copy_dsgvo_files([
        (str(data / "config.yml"), str(data / "dsgvo-config.yml")),
        (str(tmp_path / "missing.yml"), str(data / "dsgvo-default.yml")),
        (str(data / "config.yml"), str(tmp_path / "no-such-folder" / "x.yml")),
    ])
    assert written == [str(data / "dsgvo-config.yml")]
    assert (data / "dsgvo-config.yml").read_text() == "garage: 1\n"
    assert sorted(path.name for path in data.iterdir()) == ["config.yml", "dsgvo-config.yml"]


def test_the_host_runs_the_dsgvo_step_once_at_start(om_host, tmp_path):
    (tmp_path / "config.yml").write_text("x: 1\n")
    files = [(str(tmp_path / "config.yml"), str(tmp_path / "dsgvo-config.yml"))]
    om_host(("a", Recorder()), dsgvo=True, dsgvo_files=files)
    assert (tmp_path / "dsgvo-config.yml").read_text() == "x: 1\n"


def test_retention_settings_have_openmodules_defaults():
    settings = PrivacySettings()
    assert settings.paid.timedelta() == timedelta(days=1)
    assert settings.free.timedelta() == timedelta(minutes=5)
    assert settings.max_timedelta() == timedelta(days=90)
    assert PrivacyTime().timedelta() is None and PrivacyTime().time() is None
