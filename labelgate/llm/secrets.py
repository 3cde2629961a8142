"""API keys: read from the environment (or st.secrets in the app), never stored, never shown.

A key reaches exactly one place: the SDK client's constructor. Everything that leaves the
runner (stored raw responses and errors, log lines, progress text) goes through `scrub`, which
removes every known key value and anything shaped like a bearer token or provider key, because
a misbehaving server or proxy can echo the Authorization header back in an error body.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from labelgate.labelers import LabelerConfig

# The provider's own key is sent only to the provider's own API (no base URL): a labeler pointed
# at another server must name the variable holding that server's key, and an openai-compatible
# server gets no key unless its labeler names one.
DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
# Variables whose values are scrubbed wherever they appear, whatever labeler is running.
KNOWN_KEY_ENVS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "OPENAI_ADMIN_KEY")

_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(r"(?i)((?:x-api-key|api[_-]?key|authorization)[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(r"\b(sk-|sk_|ant-)[A-Za-z0-9._-]{6,}"),
]
REDACTED = "[REDACTED]"


class MissingApiKeyError(RuntimeError):
    """No key for a labeler's provider in the environment or the app's secrets."""


def key_env_name(config: LabelerConfig) -> str | None:
    """The variable a labeler's key is read from; None when it sends no key."""
    if config.api_key_env:
        return config.api_key_env
    return DEFAULT_KEY_ENV.get(config.provider) if not config.base_url else None


def _streamlit_secrets() -> Mapping | None:
    """st.secrets when this process is a running Streamlit app, else None (no import otherwise)."""
    import sys

    if "streamlit" not in sys.modules:
        return None
    try:
        import streamlit as st
        from streamlit import runtime

        if not runtime.exists():
            return None
        return st.secrets
    except Exception:  # noqa: BLE001 - no secrets.toml, or not inside the app
        return None


def resolve_api_key(config: LabelerConfig, *, secrets: Mapping | None = None) -> str | None:
    """The labeler's API key from the environment, else from `secrets` (default: st.secrets).

    Returns None for an openai-compatible server without a key (local servers rarely need one);
    raises MissingApiKeyError naming the variable (never a value) for the hosted providers.
    """
    name = key_env_name(config)
    if name is None:
        if config.provider == "openai-compatible":
            return None
        raise MissingApiKeyError(
            f"labeler {config.name!r} sends its requests to {config.base_url}, not to the {config.provider} API:"
            f" name the variable that holds that server's key (API key variable, e.g."
            f" {DEFAULT_KEY_ENV[config.provider]} to send the {config.provider} key there on purpose)")
    value = os.environ.get(name)
    if not value:
        store = secrets if secrets is not None else _streamlit_secrets()
        try:
            value = store.get(name) if store is not None else None
        except Exception:  # noqa: BLE001 - st.secrets raises when no secrets file exists
            value = None
    if value:
        register_secret(str(value))
        return str(value)
    if config.provider == "openai-compatible":
        return None
    raise MissingApiKeyError(
        f"labeler {config.name!r} needs an API key: set the environment variable {name}"
        " (or add it to .streamlit/secrets.toml for the app)")


_extra_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Remember a secret value so that `scrub` removes it from any text from now on."""
    if value and len(value) >= 4:
        _extra_secrets.add(value)


def _known_values() -> list[str]:
    vals = set(_extra_secrets)
    for name in KNOWN_KEY_ENVS:
        v = os.environ.get(name)
        if v and len(v) >= 4:
            vals.add(v)
    return sorted(vals, key=len, reverse=True)


def scrub(text: str | None, *, extra: tuple[str, ...] = ()) -> str | None:
    """`text` with every known secret and key-shaped token replaced by [REDACTED]."""
    if text is None:
        return None
    text = str(text)
    for value in (*extra, *_known_values()):
        if value and value in text:
            text = text.replace(value, REDACTED)
    for pat in _PATTERNS:
        text = pat.sub(lambda m: (m.group(1) if m.lastindex else "") + REDACTED, text)
    return text
