"""A file upload that is read once, at import, and let go of right after.

Streamlit keeps an uploaded file's bytes in the server's memory until the browser removes it. The
Data page reads only the header while the user picks options, reads the whole file once when they
press Import, and then releases it: Streamlit's copy is dropped and the uploader gets a new key, so
no copy of an imported file stays behind. The size limit is Streamlit's `server.maxUploadSize`
(200 MB in .streamlit/config.toml), enforced by the server before a byte reaches the page.

A file over the limit is refused by the browser before it is sent, so the page's script never
sees it; Streamlit then marks the file's name with an error icon and keeps its reason ("File must
be 200.0MB or smaller.") for screen readers and a hover tooltip only. `uploader_notes` states the
limit under the uploader and shows that reason as text beside the file's name.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

# Streamlit's reason for refusing a file is in a visually hidden role="alert" element of the file's
# chip: shown as text (static CSS, nothing from data).
_SHOW_REFUSAL = """<style>
[data-testid="stFileChip"][aria-invalid="true"] { flex-wrap: wrap; max-width: 100%; }
[data-testid="stFileChip"][aria-invalid="true"] [role="alert"] {
  position: static !important; clip: auto !important; clip-path: none !important; width: auto !important;
  height: auto !important; margin: 0 0 0 0.5rem !important; overflow: visible !important;
  white-space: normal !important; color: rgb(189, 64, 67); font-size: 0.875rem;
}
</style>"""


def max_upload_mb() -> int:
    """The server's upload limit in MB (server.maxUploadSize)."""
    return int(st.get_option("server.maxUploadSize"))


def uploader_notes() -> None:
    """Under an uploader: the size limit in words, and a refused file's reason shown as text."""
    st.html(_SHOW_REFUSAL)
    st.caption(f"Files up to {max_upload_mb()} MB; a larger one is refused before it is sent, and nothing "
               "is imported.")


def upload_key(prefix: str) -> str:
    """The uploader's key now (it changes after each release, so the widget starts empty)."""
    n = st.session_state.get(f"{prefix}_round", 0)
    return f"{prefix}_{n}" if n else prefix


def current_upload(prefix: str):
    """The file in the uploader, if any (an UploadedFile: its getvalue() is Streamlit's bytes, no copy)."""
    return st.session_state.get(upload_key(prefix))


def release_upload(prefix: str) -> None:
    """Drop the uploaded file from the server's memory and show an empty uploader."""
    upload = current_upload(prefix)
    ctx = get_script_run_ctx()
    if upload is not None and ctx is not None and isinstance(ctx.uploaded_file_mgr, MemoryUploadedFileManager):
        ctx.uploaded_file_mgr.remove_file(session_id=ctx.session_id, file_id=upload.file_id)
    st.session_state.pop(upload_key(prefix), None)
    st.session_state[f"{prefix}_round"] = st.session_state.get(f"{prefix}_round", 0) + 1
