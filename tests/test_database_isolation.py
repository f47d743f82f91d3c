"""What a plugin's own database session cannot do to another plugin's data (issue 10, items 3-5).

PostgreSQL: the plugin logs in as its own role, so ``RESET ROLE``/``SET ROLE``/``search_path`` reach
nothing else. SQLite: no ``ATTACH`` (nor ``VACUUM INTO``), files 0600 in a 0700 data dir. NAME: one safe
path component wherever it becomes a file name, a schema or a role.
"""

import logging
import re
import sqlite3
import stat
import time
import uuid
from base64 import b64decode

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from openmodule_host.config import HostConfig, build_plugin_config
from openmodule_host.database import normalise_url, role_name, schema_name, target_for
from openmodule_host.database.scram import scram_verifier
from openmodule_host.errors import ConfigError
from openmodule_host.states import PluginState
from tests.support import eventually, run_cli
from tests.support.children import child_pid, restarted_child
from tests.support.databases import POSTGRES_URL
from tests.support.plugins import Recorder
from tests.support.process_plugins import Snoop
from tests.test_database import Notes, start

# -- PostgreSQL: the plugin's own login role --------------------------------------------------------------


def role_of(name):
    return role_name(schema_name(name))


def admin_query(sql, **parameters):
    engine = create_engine(normalise_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            result = connection.execute(text(sql), parameters)
            return result.all() if result.returns_rows else []
    finally:
        engine.dispose()


def test_a_plugin_logs_in_as_its_own_role_not_as_the_database_url_user(om_host, postgres_backend):
    notes = Notes()
    _, (name,) = start(om_host, postgres_backend, ("notes", notes))
    with notes.core.database() as session:
        assert session.execute(text("SELECT session_user, current_user")).one() == (role_of(name), role_of(name))
    assert notes.core.database.engine.url.username == role_of(name)


def test_no_role_or_search_path_change_in_a_plugins_session_reaches_another_schema(om_host, postgres_backend):
    first, second = Notes(), Notes()
    _, (first_name, second_name) = start(om_host, postgres_backend, ("first", first), ("second", second))
    with first.core.database() as session:
        session.execute(text("INSERT INTO notes (text) VALUES ('private')"))
    other = f'"{schema_name(first_name)}".notes'

    for attempt in ("RESET ROLE", "SET ROLE NONE", "RESET SESSION AUTHORIZATION"):
        with pytest.raises(DBAPIError, match="permission denied for schema"), second.core.database() as session:
            session.execute(text(attempt))
            session.execute(text(f"SELECT * FROM {other}"))
    for role in ("postgres", role_of(first_name)):
        with pytest.raises(DBAPIError, match="permission denied to set role"), second.core.database() as session:
            session.execute(text(f'SET ROLE "{role}"'))
    with pytest.raises(DBAPIError, match="permission denied to set session authorization"), \
            second.core.database() as session:
        session.execute(text("SET SESSION AUTHORIZATION postgres"))
    with pytest.raises(DBAPIError, match='relation "notes" does not exist'), second.core.database() as session:
        session.execute(text(f'SET search_path TO "{schema_name(first_name)}"'))  # a schema without USAGE is skipped
        session.execute(text("SELECT * FROM notes"))
    with pytest.raises(DBAPIError, match="permission denied for schema"), second.core.database() as session:
        session.execute(text(f"INSERT INTO {other} (text) VALUES ('intruder')"))
    with pytest.raises(DBAPIError, match="must be owner of schema"), second.core.database() as session:
        session.execute(text(f'ALTER SCHEMA "{schema_name(first_name)}" OWNER TO "{role_of(second_name)}"'))

    with first.core.database() as session:
        assert session.execute(text("SELECT text FROM notes")).scalars().all() == ["private"]


def test_the_role_owns_its_schema_and_tables_and_holds_no_privilege_or_membership(om_host, postgres_backend):
    notes = Notes()
    _, (name,) = start(om_host, postgres_backend, ("notes", notes))
    role = role_of(name)
    attributes = admin_query(
        "SELECT rolcanlogin, rolinherit, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls "
        "FROM pg_roles WHERE rolname = :role", role=role,
    )
    assert attributes == [(True, False, False, False, False, False, False)]
    assert admin_query("SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
                       "WHERE r.rolname = :role", role=role) == []
    assert admin_query("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = :schema",
                       schema=schema_name(name)) == [(role,)]
    assert admin_query("SELECT tableowner FROM pg_tables WHERE schemaname = :schema ORDER BY tablename",
                       schema=schema_name(name)) == [(role,), (role,)]  # alembic_version, notes


def test_migrations_run_in_the_child_process_logged_in_as_the_plugins_role(om_host, postgres_backend):
    whoami = Notes("whoami")
    _, (name,) = start(om_host, postgres_backend, ("whoami", whoami))
    with whoami.core.database() as session:
        assert session.execute(text("SELECT * FROM logins")).all() == [(role_of(name), role_of(name))]


def stored_password_matches(role, password):
    """The role's SCRAM verifier (what PostgreSQL checks a login against) was made from ``password``."""
    ((verifier,),) = admin_query("SELECT rolpassword FROM pg_authid WHERE rolname = :role", role=role)
    iterations, salt = verifier.split("$")[1].split(":")
    return scram_verifier(password, b64decode(salt), int(iterations)) == verifier


def test_each_start_gives_the_role_a_new_password_that_the_server_stores_only_as_a_scram_verifier(
    om_host, postgres_backend,
):
    notes = Notes()
    host, (name,) = start(om_host, postgres_backend, ("notes", notes))
    first_password = notes.core.database.engine.url.password
    assert len(first_password) >= 40
    assert stored_password_matches(role_of(name), first_password)
    host.stop()

    again = Notes()
    om_host((name, again), **postgres_backend.settings)
    second_password = again.core.database.engine.url.password
    assert second_password != first_password
    assert stored_password_matches(role_of(name), second_password)
    assert not stored_password_matches(role_of(name), first_password)


def test_a_membership_granted_to_a_plugins_role_is_revoked_at_start(om_host, postgres_backend, caplog):
    name = postgres_backend.name("notes")
    om_host((name, Notes()), config={name: {"TESTING": True}}, **postgres_backend.settings).stop()
    admin_query(f'GRANT pg_read_all_data TO "{role_of(name)}"')

    with caplog.at_level(logging.WARNING, "openmodule_host.database"):
        again = Notes()
        om_host((name, again), **postgres_backend.settings)
    assert f"role {role_of(name)} was a member of pg_read_all_data: revoked" in caplog.text
    with pytest.raises(DBAPIError, match="permission denied"), again.core.database() as session:
        session.execute(text("SET ROLE pg_read_all_data"))


def test_a_privileged_role_with_the_plugins_role_name_is_not_handed_to_the_plugin(om_host, postgres_backend):
    name = postgres_backend.name("notes")
    admin_query(f'CREATE ROLE "{role_of(name)}" SUPERUSER')
    host = om_host((name, Notes()), config={name: {"TESTING": True}}, strict=False, **postgres_backend.settings)
    assert host.plugins[name].state == "failed"
    assert host.plugins[name].reason == (
        f"database migration failed: role {role_of(name)} exists and is a superuser, a replication or bypassrls "
        "role or the DATABASE_URL user: the host will not hand it to a plugin; drop it or choose another NAME"
    )


@pytest.fixture
def unprivileged_admin():
    """A DATABASE_URL user that may create schemas but not roles (as on some managed servers)."""
    user = f"omh_test_admin_{uuid.uuid4().hex[:8]}"
    admin_query(f'CREATE ROLE "{user}" LOGIN NOCREATEROLE')
    try:
        admin_query(f'GRANT CREATE ON DATABASE test TO "{user}"')
        yield user
    finally:
        admin_query(f'DROP OWNED BY "{user}" CASCADE')
        admin_query(f'DROP ROLE "{user}"')


def test_a_server_that_refuses_roles_falls_back_to_search_path_with_a_warning(om_host, unprivileged_admin, caplog):
    notes = Notes()
    url = normalise_url(POSTGRES_URL).set(username=unprivileged_admin).render_as_string(hide_password=False)
    name = f"notes_{uuid.uuid4().hex[:8]}"
    with caplog.at_level(logging.WARNING, "openmodule_host.database"):
        host = om_host((name, notes), database_url=url)
    assert host.plugins[name].state == "running"
    assert f"cannot create or alter role {role_of(name)}" in caplog.text
    assert "separated by search_path only" in caplog.text
    with notes.core.database() as session:
        assert session.execute(text("SELECT session_user, current_schema()")).one() == (unprivileged_admin, name)
        session.execute(text("INSERT INTO notes (text) VALUES ('works')"))
    assert notes.count() == 1


# -- SQLite: no other file, private files ------------------------------------------------------------------


def test_attach_of_another_plugins_file_is_refused(om_host, sqlite_backend, tmp_path):
    first, second = Notes(), Notes()
    _, (first_name, _) = start(om_host, sqlite_backend, ("first", first), ("second", second))
    other = sqlite_backend.data_dir / f"{first_name}.sqlite3"
    new = tmp_path / "new.sqlite3"
    for target in (str(other), f"file:{other}?mode=ro", ":memory:", str(new)):
        with pytest.raises(DBAPIError, match="not authorized"), second.core.database() as session:
            session.connection().exec_driver_sql(f"ATTACH '{target}' AS other")
        with pytest.raises(DBAPIError, match="not authorized"), second.core.database() as session:
            session.execute(text("ATTACH :file AS other"), {"file": target})  # a parameter: refused unseen
    assert not new.exists()


def test_vacuum_into_and_load_extension_are_refused_but_plain_vacuum_works(om_host, sqlite_backend, tmp_path):
    notes = Notes()
    start(om_host, sqlite_backend, ("notes", notes))
    copy = tmp_path / "copy.sqlite3"
    with pytest.raises(DBAPIError, match="not authorized"), notes.core.database() as session:
        session.execute(text("SELECT load_extension('/usr/lib/x86_64-linux-gnu/libsqlite3.so.0')"))
    connection = notes.core.database.engine.raw_connection()  # VACUUM runs outside a transaction only
    try:
        with pytest.raises(sqlite3.DatabaseError, match="authorization denied"):
            connection.execute(f"VACUUM INTO '{copy}'")
        connection.execute("VACUUM")
    finally:
        connection.close()
    assert not copy.exists()


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_dir_is_0700_and_every_database_file_0600(om_host, sqlite_backend):
    migrated, plain = Notes(), Recorder()
    _, (migrated_name, plain_name) = start(om_host, sqlite_backend, ("migrated", migrated), ("plain", plain))
    with plain.core.database() as session:  # created on first use, in this process
        session.execute(text("CREATE TABLE t (x)"))
    with migrated.core.database() as session:  # created by the migration's child process
        session.execute(text("INSERT INTO notes (text) VALUES ('x')"))
        data = sqlite_backend.data_dir
        assert mode(data) == 0o700
        for name in (migrated_name, plain_name):
            for suffix in ("", "-wal", "-shm"):
                assert mode(data / f"{name}.sqlite3{suffix}") == 0o600, f"{name}.sqlite3{suffix}"


# -- NAME: one safe path component -------------------------------------------------------------------------

UNSAFE_NAMES = ["../../x", "/abs", "a/b", "", "a\x00b", "x" * 64, ".", "..", ".hidden", "a b", "naïve", "x\n"]


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_a_name_that_is_not_one_safe_path_component_is_refused_at_config_time(name):
    with pytest.raises(ConfigError) as error:
        build_plugin_config("notes", "1.0", {"NAME": name}, HostConfig())
    assert "invalid settings for plugin 'notes'" in str(error.value)
    assert "NAME: " in str(error.value) and repr(name) in str(error.value)


@pytest.mark.parametrize("name", ["service_abc", "om_backend_x_1", "a", "Om-1.2", "9" * 63])
def test_openmodule_style_names_are_accepted(name):
    config = build_plugin_config("notes", "1.0", {"NAME": name}, HostConfig())
    assert name == config.NAME


@pytest.mark.parametrize("name", ["../../x", "/abs", "a\x00b", "", 7])
def test_a_process_isolated_plugins_unsafe_name_is_refused_before_its_child_starts(om_host, tmp_path, name):
    with pytest.raises(ConfigError) as error:  # the same error as in a thread
        om_host(("proc", "tests.support.process_plugins:crasher"),
                config={"proc": {"NAME": name, "ISOLATION": "process"}}, data_dir=str(tmp_path / "data"))
    assert "invalid settings for plugin 'proc':\n  [plugins.proc] NAME: " in str(error.value)
    assert repr(name) in str(error.value)
    assert list(tmp_path.rglob("*.sqlite3")) == []


@pytest.mark.parametrize("name", ["../../x", "/abs", "a/b", ""])
def test_target_for_refuses_a_name_that_would_leave_the_data_dir(tmp_path, name):
    with pytest.raises(ValueError, match="a NAME must be"):
        target_for(name, tmp_path / "data", None)
    with pytest.raises(ValueError, match="a NAME must be"):
        target_for(name, tmp_path / "data", normalise_url(POSTGRES_URL))


def test_long_or_similar_names_never_share_a_schema_or_a_role():
    first, second = "1" + "a" * 61 + "b", "1" + "a" * 61 + "c"  # "p_" in front: too long to keep whole
    assert len({schema_name(first), schema_name(second)}) == 2
    assert all(len(schema_name(name)) <= 63 for name in (first, second))
    third, fourth = "a" * 62 + "b", "a" * 62 + "c"  # the schemas fit; "omh_" + them does not
    assert len({role_name(schema_name(third)), role_name(schema_name(fourth))}) == 2
    assert all(len(role_name(schema_name(name))) <= 63 for name in (third, fourth))
    assert schema_name("public") == "p_public" and schema_name("pg_catalog") == "p_pg_catalog"
    assert schema_name("information_schema") == "p_information_schema"


def test_two_names_with_one_postgresql_schema_are_refused(om_host, postgres_backend):
    name = postgres_backend.name("om")
    with pytest.raises(ConfigError, match=f"both use the PostgreSQL schema {name}"):
        om_host(("one", Recorder()), ("two", Recorder()),
                config={"one": {"NAME": name}, "two": {"NAME": name.replace("_", "-")}}, **postgres_backend.settings)


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_an_unsafe_name_stops_the_host_at_start_with_exit_2_and_creates_no_file(tmp_path, broker_env, isolation):
    config = tmp_path / "host.toml"
    config.write_text(f'[host]\ndata_dir = "{tmp_path / "data"}"\n'
                      f'[plugins.backend_x]\nNAME = "../../escaped"\nISOLATION = "{isolation}"\n')
    result = run_cli("--plugins", "backend_x", "--config", str(config), env=broker_env)
    assert result.returncode == 2
    assert "'../../escaped'" in result.stderr and "a NAME must be 1 to 63 letters" in result.stderr
    assert not (tmp_path / "data" / "../../escaped.sqlite3").resolve().exists()


# -- A plugin in process isolation: its role's login only, never the DATABASE_URL user's ------------------

SNOOP = "tests.support.process_plugins:snoop"


@pytest.fixture
def admin_with_password():
    """A DATABASE_URL user with a password and CREATEROLE: (its URL, its password), the secret no plugin in a
    child process may see. (The test server trusts every login, so the password is never checked: what counts
    is that the text never reaches the child.)"""
    user = f"omh_test_admin_{uuid.uuid4().hex[:8]}"
    password = f"AdminPw{uuid.uuid4().hex}"
    admin_query(f"CREATE ROLE \"{user}\" LOGIN CREATEROLE PASSWORD '{password}'")
    try:
        admin_query(f'GRANT CREATE ON DATABASE test TO "{user}"')
        yield normalise_url(POSTGRES_URL).set(username=user, password=password).render_as_string(False), password
    finally:
        admin_query(f'DROP OWNED BY "{user}" CASCADE')
        admin_query(f'DROP ROLE "{user}"')


def snooped(client, password):
    """Where the plugin found ``password`` in its process (it is sent reversed, so the request does not hold it)."""
    return client.rpc("snoop", "look", {"backwards": password[::-1]}, timeout=30)["response"]["found"]


def snoop_database(client):
    return client.rpc("snoop", "database", {}, timeout=5)["response"]


@pytest.fixture
def process_snoop(om_host, om_client, postgres_backend, admin_with_password, monkeypatch):
    """A plugin in a child process whose host was configured with DATABASE_URL (and PGPASSWORD) in its
    environment, as the admin with a password; yields (host, NAME, the admin's password)."""
    url, password = admin_with_password
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("PGPASSWORD", password)
    name = postgres_backend.name("snoop")
    host = om_host((name, SNOOP), config={name: {"ISOLATION": "process"}}, database_url=url,
                   data_dir=str(postgres_backend.data_dir), restart_backoff=0.05)
    assert host.plugins[name].state == "running"
    yield host, name, password
    host.stop()


def test_a_process_isolated_plugin_finds_the_admin_password_nowhere_in_its_process(process_snoop, om_client):
    _, name, password = process_snoop
    assert snooped(om_client, password) == []
    database = snoop_database(om_client)
    assert database["user"] == role_of(name)
    assert database["logins"] == [[role_of(name), role_of(name)]]  # its migrations ran as its role
    assert stored_password_matches(role_of(name), database["password"])


def test_after_a_crash_the_restarted_child_logs_in_with_a_new_password_and_still_sees_no_admin_password(
    process_snoop, om_client,
):
    host, name, password = process_snoop
    first_password = snoop_database(om_client)["password"]
    first = child_pid(om_client)
    om_client.publish("crash", {"type": "crash", "how": "exit"})
    restarted_child(om_client, host.plugins[name].process, host.plugins[name].process_name, first)

    assert host.plugins[name].process.restarts == 1
    assert snooped(om_client, password) == []
    database = snoop_database(om_client)
    assert database["user"] == role_of(name)
    assert database["password"] != first_password
    assert stored_password_matches(role_of(name), database["password"])
    assert not stored_password_matches(role_of(name), first_password)


def test_the_probe_finds_the_admin_password_in_a_thread_plugins_process(om_host, om_client, postgres_backend,
                                                                         admin_with_password, monkeypatch):
    """What process isolation takes away: in the host's own process the DATABASE_URL is in plain reach."""
    url, password = admin_with_password
    monkeypatch.setenv("DATABASE_URL", url)
    name = postgres_backend.name("snoop")
    om_host((name, Snoop()), database_url=url, data_dir=str(postgres_backend.data_dir))
    found = snooped(om_client, password)
    assert "os.environ" in found
    assert "a HostConfig" in found


def test_a_process_plugin_whose_database_cannot_be_prepared_fails_at_start_without_a_child(om_host, postgres_backend):
    name = postgres_backend.name("snoop")
    admin_query(f'CREATE ROLE "{role_of(name)}" SUPERUSER')
    host = om_host((name, SNOOP), config={name: {"ISOLATION": "process"}}, strict=False,
                   **postgres_backend.settings)
    plugin = host.plugins[name]
    assert plugin.state == "failed"
    assert plugin.reason == (
        f"its database could not be prepared: role {role_of(name)} exists and is a superuser, a replication or "
        "bypassrls role or the DATABASE_URL user: the host will not hand it to a plugin; drop it or choose another "
        "NAME"
    )
    assert plugin.process.pid is None and plugin.process.state is PluginState.FAILED


def test_a_restart_whose_database_cannot_be_prepared_counts_as_a_crash_and_is_tried_again(
    om_host, om_client, postgres_backend,
):
    name = postgres_backend.name("snoop")
    host = om_host((name, SNOOP), config={name: {"ISOLATION": "process"}}, restart_backoff=0.5,
                   **postgres_backend.settings)
    process = host.plugins[name].process
    admin_query(f'ALTER ROLE "{role_of(name)}" SUPERUSER')  # the host will not hand it to a plugin
    first = child_pid(om_client)
    om_client.publish("crash", {"type": "crash", "how": "exit"})

    eventually(lambda: process.reason.startswith("its database could not be prepared"), timeout=20)
    assert process.state is PluginState.RESTARTING
    assert re.fullmatch(  # (1 s after this first failure; a later one under load: 2 s, 4 s)
        re.escape(f"its database could not be prepared: role {role_of(name)} exists and is a superuser, a "
                  "replication or bypassrls role or the DATABASE_URL user: the host will not hand it to a plugin; "
                  "drop it or choose another NAME; restarting in ") + "[124] s", process.reason)
    admin_query(f'ALTER ROLE "{role_of(name)}" NOSUPERUSER')
    restarted_child(om_client, process, host.plugins[name].process_name, first)
    eventually(lambda: process.state is PluginState.RUNNING, timeout=10)  # the new child reports in
    assert snoop_database(om_client)["user"] == role_of(name)


def test_a_slow_database_at_a_restart_does_not_make_the_supervisor_look_stuck(om_host, om_client, postgres_backend):
    name = postgres_backend.name("snoop")
    host = om_host((name, SNOOP), config={name: {"ISOLATION": "process"}}, restart_backoff=0.05,
                   watchdog_timeout=1.0, **postgres_backend.settings)
    process = host.plugins[name].process
    engine = create_engine(normalise_url(POSTGRES_URL))
    try:
        with engine.connect() as blocker:  # holds the role's row: the preparation's ALTER ROLE waits for it
            blocker.execute(text(f'ALTER ROLE "{role_of(name)}" CONNECTION LIMIT 10'))
            first = child_pid(om_client)
            om_client.publish("crash", {"type": "crash", "how": "exit"})
            eventually(lambda: admin_query("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                           "AND query LIKE :waiting", waiting=f'ALTER ROLE "{role_of(name)}" %'
                                           )[0][0] == 1, timeout=10)
            time.sleep(3 * host.watchdog.timeout)
            assert host.watchdog.problems() == {}
            assert not host.wait(0)  # the watchdog did not stop the host
            assert process.state is PluginState.RESTARTING
            blocker.rollback()
        restarted_child(om_client, process, host.plugins[name].process_name, first)
    finally:
        engine.dispose()
    eventually(lambda: process.state is PluginState.RUNNING, timeout=10)  # the new child reports in
    assert process.restarts == 1
