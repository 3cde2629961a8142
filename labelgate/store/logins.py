"""Login attempts: appended at every try, read to slow wrong passwords and for the Users page."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from labelgate.store.db import Database

NAME_LIMIT = 100  # a typed user name is kept up to this length (it may be anything)


def record_attempt(db: Database, user_name: str, client: str, outcome: str, at_utc: datetime) -> None:
    with db.transaction() as con:
        con.execute("INSERT INTO login_attempts (at_utc, user_name, client, outcome) VALUES (?, ?, ?, ?)",
                    [at_utc, user_name[:NAME_LIMIT], client[:NAME_LIMIT], outcome])


_FAILURES = """
    SELECT at_utc FROM login_attempts
    WHERE {key} = ? AND outcome = 'wrong' AND at_utc > ?
      AND at_utc > coalesce((SELECT max(at_utc) FROM login_attempts WHERE {key} = ? AND outcome = 'ok'),
                            TIMESTAMP '1970-01-01')
    ORDER BY at_utc
"""


def failures_since(db: Database, *, user_name: str, client: str, since_utc: datetime
                   ) -> tuple[list[datetime], list[datetime]]:
    """Wrong passwords after `since_utc` and after the last success: (for the account, from the client)."""
    with db.connect() as con:
        by_user = con.execute(_FAILURES.format(key="user_name"),
                              [user_name[:NAME_LIMIT], since_utc, user_name[:NAME_LIMIT]]).fetchall()
        by_client = con.execute(_FAILURES.format(key="client"),
                                [client[:NAME_LIMIT], since_utc, client[:NAME_LIMIT]]).fetchall()
    return [r[0] for r in by_user], [r[0] for r in by_client]


def recent_failures(db: Database, *, limit: int = 200) -> pd.DataFrame:
    """The latest wrong or refused attempts, newest first: at_utc, user_name, client, outcome."""
    with db.connect() as con:
        return con.execute("SELECT at_utc, user_name, client, outcome FROM login_attempts"
                           " WHERE outcome <> 'ok' ORDER BY at_utc DESC LIMIT ?", [limit]).df()
