"""What the browser shows when something fails: one sentence and an error id, never a traceback.

Streamlit shows an uncaught exception of a page, a callback or a fragment with its traceback
(file paths, code, data), to whoever is on the page -- an anonymous visitor on the login page
included. `install()` replaces the function Streamlit calls to show one (it has already logged
the traceback by then): the browser gets the error id only, and the server log gets the id with
the traceback, so an administrator can find it. A database this release cannot use is refused
with its own sentence. `client.showErrorDetails = "none"` in .streamlit/config.toml is the
fallback should a Streamlit upgrade rename that function.
"""

from __future__ import annotations

import logging
import secrets

from labelgate.store import DatabaseBusyError, DatabaseFileError

log = logging.getLogger("labelgate.app")


def _show(ex: BaseException) -> None:
    import streamlit as st
    from streamlit.delta_generator_singletons import get_dg_singleton_instance

    from labelgate.ui.widgets import plain

    if isinstance(ex, (DatabaseFileError, DatabaseBusyError)):
        log.error("database refused: %s", ex)
        text = plain(str(ex))
    else:
        error_id = secrets.token_hex(4)
        log.error("error id %s", error_id, exc_info=ex)
        text = (f"Something went wrong on our side (error id {error_id}). An administrator can find what "
                "happened in the server log under this id.")
    try:
        get_dg_singleton_instance().main_dg.error(text, icon=":material/error:")
    except Exception:  # noqa: BLE001 - showing the error must not hide the original one
        st.error(text)


def install() -> None:
    """Route every uncaught app exception of this process through `_show` (idempotent)."""
    from streamlit import error_util

    if hasattr(error_util, "show_uncaught_app_exception"):
        error_util.show_uncaught_app_exception = _show
