"""Settings: command-line option over environment variable over `settings.toml` over default.

Secrets never pass through here: the cluster token lives in the keyring or the environment
(see `core.secrets`).
"""

from __future__ import annotations

import getpass
import math
import os
import tomllib
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.errors import LoradeskError
from core.records import NotificationType

# The notification types announced in the tray (or the window's banner); the rest are only listed.
NOTIFY_ALL: tuple[str, ...] = tuple(t.value for t in NotificationType)
# Announced unless the person says otherwise: starts, ends, warnings. Milestones (25/50/75 %) are
# listed in the drawer only, or ten jobs make forty tray messages.
NOTIFY_DEFAULT: tuple[str, ...] = tuple(t for t in NOTIFY_ALL if t != NotificationType.JOB_PROGRESS.value)

CLUSTER_BACKENDS = ("local", "http", "ray")
REMOTE_BACKENDS = ("http", "ray")  # the backends that reach a cluster at its URL, with a token

# US$ per GPU-hour, used for `hourly_rate` when a job is created. Users override or extend it in
# the `[gpu_rates]` table of settings.toml.
DEFAULT_GPU_RATES: dict[str, float] = {
    "cpu": 0.0,
    "T4": 0.35,
    "L4": 0.80,
    "A10G": 1.10,
    "L40S": 1.90,
    "A100-40GB": 2.90,
    "A100-80GB": 3.70,
    "H100": 4.50,
}


class ConfigError(LoradeskError):
    """A setting has a value Loradesk cannot use; the message says which and why."""


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("loradesk", appauthor=False))


def default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): still a usable identity
        return "loradesk"


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    user: str
    cluster: str = "local"
    cluster_url: str | None = None
    poll_interval: float = 5.0
    local_max_jobs: int = 1
    # Transient submit failures (cluster down, 5xx, timeouts) tolerated before a job fails.
    max_submit_attempts: int = 5
    # Requests the `http` backend keeps in flight at most (fewer while the cluster is loaded:
    # core.cluster.in_flight), and so the jobs a scheduler claims at a time.
    max_in_flight: int = 256
    # Times the local backend continues a job whose trainer died (OOM, kill -9, reboot) from its
    # last checkpoint before the job fails.
    max_resumes: int = 2
    # The Python that runs `core.trainer` for the local backend; empty means this interpreter.
    trainer_python: str = ""
    # Where the two buckets live: empty for folders under `home`/storage, a folder, or
    # `s3://BUCKET[/PREFIX]` (core.storage.open_storage).
    storage_url: str = ""
    keep_in_tray: bool = True
    # Set once the first-run demo was offered, so it is offered only once.
    demo_offered: bool = False
    notify: tuple[str, ...] = NOTIFY_DEFAULT
    # US$ the user may spend per calendar month (core.money.budget); None: no budget.
    monthly_budget: float | None = None
    gpu_rates: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_GPU_RATES))
    # US$ per device-hour of this machine's own hardware, for local jobs (core.money.gpu_offer).
    local_rate: float = 0.0
    # Where `user` was given ("--user", "LORADESK_USER", "settings.toml"), None when it is the login
    # name: in team mode a user that was given must be the connecting role (core.db.team).
    user_source: str | None = None

    @property
    def settings_file(self) -> Path:
        return self.home / "settings.toml"

    def rate_for(self, gpu_type: str) -> float:
        try:
            return self.gpu_rates[gpu_type]
        except KeyError:
            known = ", ".join(sorted(self.gpu_rates))
            raise ConfigError(f"unknown GPU type {gpu_type!r}; known types: {known}") from None

    def with_changes(self, **changes: Any) -> Settings:
        return replace(self, **changes)


@dataclass(frozen=True)
class Setting:
    """One setting, declared once: its `Settings` field and settings.toml key (`name`), its
    environment variable, whether it has a command-line option (`--name-with-dashes`), how a
    value given as text or TOML becomes the field's (`parse`; a number's `option_type` parses it
    when there is no `parse`), and whether the app saves it to settings.toml. A setting given
    nowhere takes its `Settings` field's default. `option_type`, `choices` and `metavar` shape the
    option (argparse rejects a bad value there, with exit status 2); `help` is its help line,
    which names the variable."""

    name: str
    variable: str | None
    help: str = ""
    parse: Callable[[Any], Any] | None = None
    option: bool = True
    saved: bool = True
    option_type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return f"--{self.name.replace('_', '-')}"

    @property
    def words(self) -> str:
        """The name as a message says it: "poll interval"."""
        return self.name.replace("_", " ")

    @property
    def option_help(self) -> str:
        return f"{self.help} ({self.variable})" if self.variable else self.help

    def read(self, value: Any) -> Any:
        """A value given as text (option, variable) or as settings.toml holds it, as the field's."""
        if self.parse is not None:
            return self.parse(value)
        if self.option_type in (int, float):
            return _number(value, self.words, self.option_type)
        return str(value)


def _or_none(value: Any) -> str | None:
    return str(value) if value else None


SETTINGS: tuple[Setting, ...] = (
    Setting("database_url", "LORADESK_DATABASE_URL", "SQLAlchemy URL of the database", _or_none),
    Setting("user", "LORADESK_USER", "the user to act as", _or_none),
    Setting("cluster", "LORADESK_CLUSTER", "cluster backend", choices=CLUSTER_BACKENDS),
    Setting(
        "cluster_url",
        "LORADESK_CLUSTER_URL",
        "base URL of the GPU cluster API, or of a Ray cluster's dashboard",
        _or_none,
    ),
    Setting(
        "storage_url",
        "LORADESK_STORAGE_URL",
        "where datasets and adapters live: a folder or s3://BUCKET[/PREFIX]",
        lambda value: str(value).strip(),
    ),
    Setting("poll_interval", "LORADESK_POLL_INTERVAL", "seconds between scheduler cycles", option_type=float),
    Setting("local_max_jobs", "LORADESK_LOCAL_MAX_JOBS", "local training jobs at once", option_type=int),
    Setting(
        "max_submit_attempts",
        "LORADESK_MAX_SUBMIT_ATTEMPTS",
        "transient submit failures before a job fails",
        option_type=int,
    ),
    Setting(
        "max_in_flight",
        "LORADESK_MAX_IN_FLIGHT",
        "requests in flight to the GPU cluster at most; halved while it is loaded",
        option_type=int,
    ),
    Setting(
        "max_resumes",
        "LORADESK_MAX_RESUMES",
        "times a local job whose trainer died continues from its checkpoint",
        option_type=int,
    ),
    Setting("trainer_python", "LORADESK_TRAINER_PYTHON", "Python that runs the local trainer"),
    Setting(
        "notify",
        "LORADESK_NOTIFY",
        "notification types announced: all, none or a comma list",
        lambda value: parse_notify(value),
        metavar="TYPES",
    ),
    Setting(
        "monthly_budget",
        "LORADESK_MONTHLY_BUDGET",
        "US$ you may spend per calendar month; a submit past it is refused",
        lambda value: parse_budget(value),
        metavar="USD",
    ),
    Setting("keep_in_tray", None, parse=bool, option=False),
    # Set once the first-run demo was offered, so it is offered only once.
    Setting("demo_offered", None, parse=bool, option=False),
    Setting(
        "local_rate",
        "LORADESK_LOCAL_RATE",
        "US$ per device-hour of this machine's own hardware, for local jobs",
        option_type=float,
        metavar="USD",
    ),
)
# The home holds settings.toml, so it is an option or a variable only, never saved in it.
HOME_VARIABLE = "LORADESK_HOME"
# name in settings.toml / Settings field → environment variable
ENV_VARIABLES = {s.name: s.variable for s in SETTINGS if s.variable}
_SAVED = tuple(s.name for s in SETTINGS if s.saved)
# A setting given nowhere: its Settings field's default (None for the two a workspace works out).
_DEFAULTS = {
    f.name: f.default_factory() if callable(f.default_factory) else f.default
    for f in fields(Settings)
    if f.default is not MISSING or callable(f.default_factory)
}


def load_settings(overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Settings from options (`overrides`, None values ignored), environment and settings file."""
    env = os.environ if environ is None else environ
    options = {k: v for k, v in (overrides or {}).items() if v is not None}
    home = Path(options.get("home") or env.get(HOME_VARIABLE) or default_home()).expanduser()
    stored = _read_file(home / "settings.toml")

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        name, variable = setting.name, setting.variable
        if name in options:
            raw, sources[name] = options[name], setting.flag
        elif variable and env.get(variable):
            raw, sources[name] = env[variable], variable
        elif name in stored:
            raw, sources[name] = stored[name], "settings.toml"
        else:
            values[name] = _DEFAULTS.get(name)
            continue
        values[name] = setting.read(raw)
    rates = dict(DEFAULT_GPU_RATES)
    rates.update(_parse_rates(stored.get("gpu_rates", {})))

    user = values.pop("user")
    settings = Settings(
        home=home,
        **{**values, "database_url": values["database_url"] or f"sqlite:///{home / 'loradesk.db'}"},
        user=user or default_user(),
        gpu_rates=rates,
        user_source=sources.get("user") if user else None,
    )
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    if settings.cluster not in CLUSTER_BACKENDS:
        raise ConfigError(
            f"unknown cluster backend {settings.cluster!r}; use one of {', '.join(CLUSTER_BACKENDS)}"
        )
    if settings.cluster in REMOTE_BACKENDS and not settings.cluster_url:
        raise ConfigError(
            f"the {settings.cluster} cluster backend needs a cluster URL (LORADESK_CLUSTER_URL)"
        )
    if settings.cluster_url and not settings.cluster_url.startswith(("http://", "https://")):
        raise ConfigError(f"cluster URL {settings.cluster_url!r} must start with http:// or https://")
    check_storage_url(settings.storage_url)
    if not settings.poll_interval > 0:
        raise ConfigError("poll interval must be a positive number of seconds")
    if settings.local_max_jobs < 1:
        raise ConfigError("local max jobs must be at least 1")
    if settings.max_submit_attempts < 1:
        raise ConfigError("max submit attempts must be at least 1")
    if settings.max_in_flight < 1:
        raise ConfigError("max in flight must be at least 1")
    if not settings.user.strip():
        raise ConfigError("user must not be empty")


def save_settings(home: Path, changes: dict[str, Any]) -> Path:
    """Write what the person changed into `home`/settings.toml, keeping the rest of the file.

    Only `changes` are written: values that came from the environment or the command line stay
    where they came from, and a secret (a password in a database URL) is refused, never stored.
    An empty value removes the line, so the default (or the variable) applies again.
    """
    unknown = set(changes) - {*_SAVED, "gpu_rates"}
    if unknown:
        raise ValueError(f"not settings that are saved: {sorted(unknown)}")
    if has_password(changes.get("database_url")):
        raise ConfigError(
            "the database URL holds a password, which would be written to settings.toml; "
            "keep it in the OS keyring (the settings dialog's Database password field) or "
            "LORADESK_DATABASE_PASSWORD"
        )
    path = home / "settings.toml"
    stored = _read_file(path)
    for name, value in changes.items():
        if name == "gpu_rates":
            stored[name] = {k: v for k, v in value.items() if DEFAULT_GPU_RATES.get(k) != v}
        elif name == "notify":
            stored[name] = list(value)  # [] (announce nothing) is a choice, not a default
        elif value is None or value == "":
            stored.pop(name, None)
        else:
            stored[name] = value
    home.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomli_w.dumps(stored), encoding="utf-8")
    tmp.replace(path)
    return path


def check_storage_url(url: str) -> None:
    """Empty (the default folders), a local folder, or `s3://BUCKET[/PREFIX]`."""
    if not url or "://" not in url:
        return
    scheme, _, rest = url.partition("://")
    if scheme != "s3":
        raise ConfigError(f"storage URL {url!r} must be a local folder or s3://BUCKET[/PREFIX]")
    if not rest.split("/", 1)[0]:
        raise ConfigError(f"storage URL {url!r} names no bucket; use s3://BUCKET[/PREFIX]")


def has_password(database_url: str | None) -> bool:
    if not database_url:
        return False
    try:
        return make_url(database_url).password is not None
    except ArgumentError:
        return False


def parse_notify(value: Any) -> tuple[str, ...]:
    """Notification types from a list (settings.toml) or a comma-separated string (option,
    variable): `all`, `none`, or names such as `job_completed,job_failed`."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word == "all":
            return NOTIFY_ALL
        items = [] if word in ("", "none") else [part.strip() for part in word.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        items = [str(part) for part in value]
    else:
        raise ConfigError("notify must be a list of notification types")
    unknown = [item for item in items if item not in NOTIFY_ALL]
    if unknown:
        raise ConfigError(
            f"unknown notification type {unknown[0]!r} in notify; "
            f"use all, none or some of {', '.join(NOTIFY_ALL)}"
        )
    return tuple(t for t in NOTIFY_ALL if t in items)  # one order, no repeats


def parse_budget(value: Any) -> float | None:
    """A monthly budget in US$: a positive number, or empty (none)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
        return None
    budget = _number(value, "monthly budget", float)
    if not (math.isfinite(budget) and budget > 0):
        raise ConfigError(f"monthly budget must be a positive number of US$, not {value!r}")
    return float(budget)


def setting_names() -> list[str]:
    return [f.name for f in fields(Settings)]


def _read_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def _parse_rates(raw: Any) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise ConfigError("[gpu_rates] in settings.toml must be a table of GPU type = US$ per hour")
    return {str(k): _number(v, f"GPU rate for {k}", float) for k, v in raw.items()}


def _number(value: Any, what: str, kind: type) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number, not {value!r}") from None
    if number < 0:
        raise ConfigError(f"{what} must not be negative")
    return number
