"""Streamlit glue shared by the pages: the database handle, the signed-in user, widgets, figures."""
