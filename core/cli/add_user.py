"""`loradesk db add-user NAME [--scheduler]`: the owner gives a person (or a scheduler) a role.

The new role's password is never an argument (it would sit in the shell history and the process
list), never printed and never written to a file: it comes from `LORADESK_NEW_USER_PASSWORD`, else
from the keyring entry that role would use on this server (see core.secrets.password_key), else it
is asked for, twice, on the terminal.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from sqlalchemy.engine import make_url

from core.cli.commands import settings_from
from core.db.engine import Database
from core.db.migrate import upgrade
from core.db.team import TeamModeError, add_user
from core.secrets import keyring_database_password

NEW_PASSWORD_ENV = "LORADESK_NEW_USER_PASSWORD"


def db_add_user(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    db = Database(settings.database_url, home=settings.home)
    try:
        upgrade(db)  # the owner's command: the schema (and its row security) must be at head first
        added = add_user(
            db,
            args.name,
            scheduler=args.scheduler,
            password=lambda: new_password(settings.database_url, args.name),
        )
        where = db.display_url
    finally:
        db.dispose()
    if added.created:
        print(f"created the login role {added.name}")
    else:
        print(f"the role {added.name} exists; its password is unchanged")
    if added.scheduler_group:
        print(
            f"{added.name} may use {where} and works on every user's rows (member of "
            f"{added.scheduler_group}): run `loradesk scheduler --all-users` as {added.name}"
        )
    else:
        print(f"{added.name} may use {where} and reaches only the rows of user {added.name}")
    return 0


def new_password(owner_url: str, name: str) -> str:
    """The password for the new role `name`, from the variable, the keyring or the terminal."""
    from_env = os.environ.get(NEW_PASSWORD_ENV, "")
    if from_env:
        return from_env
    # The owner's URL as `name` would write it (password_key leaves the owner's password out).
    role_url = make_url(owner_url).set(username=name).render_as_string(hide_password=False)
    stored = keyring_database_password(role_url)
    if stored:
        return stored
    if not sys.stdin.isatty():
        raise TeamModeError(
            f"a password is needed to create the role {name}: set {NEW_PASSWORD_ENV}, or run "
            "the command in a terminal to be asked for it"
        )
    first = getpass.getpass(f"Password for the new role {name}: ")
    if getpass.getpass("Again: ") != first:
        raise TeamModeError("the two passwords differ; nothing was changed")
    return first
