"""Settings precedence: option over variable over settings file over default; no secrets saved."""

from __future__ import annotations

import tomllib
from dataclasses import fields

import pytest

from core.config import NOTIFY_ALL, ConfigError, load_settings, save_settings


def test_precedence(home, monkeypatch):
    home.mkdir(parents=True)
    (home / "settings.toml").write_text(
        'cluster = "http"\ncluster_url = "http://file:1"\npoll_interval = 7\n'
    )
    assert load_settings().cluster_url == "http://file:1"
    monkeypatch.setenv("LORADESK_CLUSTER_URL", "http://env:1")
    assert load_settings().cluster_url == "http://env:1"
    assert load_settings({"cluster_url": "http://option:1"}).cluster_url == "http://option:1"
    assert load_settings().poll_interval == 7


def test_defaults(home):
    settings = load_settings()
    assert settings.cluster == "local" and settings.poll_interval == 5
    assert settings.database_url == f"sqlite:///{home / 'loradesk.db'}"
    assert settings.user


def test_save_writes_no_token(home, monkeypatch):
    monkeypatch.setenv("LORADESK_CLUSTER_TOKEN", "tok-123")
    settings = load_settings({"cluster": "http", "cluster_url": "http://c:1"})
    path = save_settings(settings.home, {"gpu_rates": {**settings.gpu_rates, "B200": 6.0}})
    text = path.read_text()
    assert "tok-123" not in text and "B200 = 6.0" in text
    assert load_settings().rate_for("B200") == 6.0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cluster": "ray-someday"}, "unknown cluster backend"),
        ({"cluster": "http"}, "needs a cluster URL"),
        ({"cluster_url": "ftp://x"}, "must start with http"),
        ({"poll_interval": "soon"}, "must be a number"),
        ({"poll_interval": 0}, "positive"),
        ({"notify": "job_completed,milestones"}, "unknown notification type 'milestones'"),
    ],
)
def test_bad_values_are_clear_errors(home, overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(overrides)


def test_broken_settings_file(home):
    home.mkdir(parents=True)
    (home / "settings.toml").write_text("cluster = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


def test_saving_writes_only_the_changes_never_the_environment_options_or_secrets(home, monkeypatch):
    """Values merged from LORADESK_* variables and command-line options are in Settings, but a
    save writes only what changed; a database URL with a password is refused."""
    home.mkdir(parents=True)
    (home / "settings.toml").write_text('trainer_python = "/opt/py"\n')
    secret_url = "postgresql+psycopg://team:hunter2@db.example:5432/loradesk"
    monkeypatch.setenv("LORADESK_DATABASE_URL", secret_url)
    monkeypatch.setenv("LORADESK_USER", "from-env")
    settings = load_settings({"poll_interval": 0.5, "cluster": "http", "cluster_url": "http://c:1"})
    assert (settings.database_url, settings.user, settings.poll_interval) == (secret_url, "from-env", 0.5)

    path = save_settings(settings.home, {"demo_offered": True})

    assert tomllib.loads(path.read_text()) == {"trainer_python": "/opt/py", "demo_offered": True}
    with pytest.raises(ConfigError, match="password"):
        save_settings(settings.home, {"database_url": secret_url})
    assert "hunter2" not in path.read_text()


def test_notify_from_the_file_the_variable_and_the_option(home, monkeypatch):
    monkeypatch.delenv("LORADESK_NOTIFY", raising=False)
    # announced until a person says not: all but the milestones, which the drawer lists
    assert load_settings().notify == tuple(t for t in NOTIFY_ALL if t != "job_progress")
    save_settings(home, {"notify": ("job_failed",)})
    assert tomllib.loads((home / "settings.toml").read_text())["notify"] == ["job_failed"]
    assert load_settings().notify == ("job_failed",)
    monkeypatch.setenv("LORADESK_NOTIFY", "job_failed, job_completed")
    assert load_settings().notify == ("job_completed", "job_failed")
    assert load_settings({"notify": "none"}).notify == ()
    assert load_settings({"notify": "all"}).notify == NOTIFY_ALL
    monkeypatch.delenv("LORADESK_NOTIFY")
    save_settings(home, {"notify": ()})  # announcing nothing is a choice, kept in the file
    assert load_settings().notify == ()


# A value each setting accepts as text, and what it becomes; from settings.toml, as TOML would hold it.
EXAMPLES = {
    "database_url": ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    "user": ("bob", "bob"),
    "cluster": ("ray", "ray"),
    "cluster_url": ("http://head:8265", "http://head:8265"),
    "storage_url": ("s3://bucket/prefix", "s3://bucket/prefix"),
    "poll_interval": ("2.5", 2.5),
    "local_max_jobs": ("3", 3),
    "max_submit_attempts": ("9", 9),
    "max_in_flight": ("64", 64),
    "max_resumes": ("4", 4),
    "trainer_python": ("/opt/py/bin/python", "/opt/py/bin/python"),
    "notify": ("job_failed", ("job_failed",)),
    "monthly_budget": ("120", 120.0),
    "local_rate": ("0.4", 0.4),
    "keep_in_tray": (False, False),
    "demo_offered": (True, True),
}


def test_every_setting_is_declared_once_and_read_from_its_option_variable_and_file(home, monkeypatch):
    """The table is the one place: each setting reaches Settings from where it says, and the
    command line offers exactly the settings that have an option."""
    from core.cli.main import build_parser
    from core.config import SETTINGS, Settings

    assert {s.name for s in SETTINGS} == set(EXAMPLES)
    assert {f.name for f in fields(Settings)} - set(EXAMPLES) == {"home", "gpu_rates", "user_source"}
    home.mkdir(parents=True)
    before = {"cluster_url": "http://base:1", "notify": list(NOTIFY_ALL)}  # ray needs a URL
    save_settings(home, {"cluster_url": before["cluster_url"]})
    for setting in SETTINGS:
        text, value = EXAMPLES[setting.name]
        if setting.saved:
            save_settings(home, {setting.name: [text] if setting.name == "notify" else text})
            assert getattr(load_settings(), setting.name) == value, setting.name
            save_settings(home, {setting.name: before.get(setting.name)})
        if setting.variable:
            monkeypatch.setenv(setting.variable, str(text))
            assert getattr(load_settings(), setting.name) == value, setting.variable
            monkeypatch.delenv(setting.variable)
        if setting.option:
            args = build_parser().parse_args(["jobs", "list", setting.flag, str(text)])
            assert getattr(load_settings({setting.name: getattr(args, setting.name)}), setting.name) == value
    usage = " ".join(build_parser().format_help().split())
    for setting in SETTINGS:  # the help line names the variable, from the table
        if setting.option and setting.variable:
            assert f"{setting.flag} " in usage and f"({setting.variable})" in usage, setting.name
    assert "(LORADESK_HOME)" in usage
    with pytest.raises(SystemExit):  # a setting without an option has none
        build_parser().parse_args(["jobs", "list", "--keep-in-tray", "no"])
