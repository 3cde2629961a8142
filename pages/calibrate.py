"""Calibrate (issue 5): being built."""

from __future__ import annotations

import streamlit as st

from labelgate.ui.session import require_page

require_page("calibrate")
st.title("Calibrate")
