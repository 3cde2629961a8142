"""What a labeler is: a model, a prompt and settings, fingerprinted into a version."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, replace
from urllib.parse import urlsplit, urlunsplit

PROVIDERS = ("openai", "anthropic", "openai-compatible", "import")
KEY_ENV_PATTERN = re.compile(r"OPENAI_API_KEY|ANTHROPIC_API_KEY|LABELGATE_[A-Z0-9_]+_KEY")
# Provider keys as they look (OpenAI sk-..., Anthropic sk-ant-...): never part of a base URL.
_KEY_SHAPED = re.compile(r"(sk-|sk_|ant-)[A-Za-z0-9._-]{6,}")
_KEY_HINT = ("put the key in an environment variable named LABELGATE_<NAME>_KEY and give that name as the"
             " API key variable")


def check_base_url(url: str) -> None:
    """Refuse a base URL that is not http(s)://host... or that carries a secret (never echoed back)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("a base URL must start with http:// or https:// and name a host, e.g. http://127.0.0.1:8000/v1")
    if "@" in parts.netloc:
        raise ValueError(f"a base URL must not carry a user name or password (user:secret@host): {_KEY_HINT}")
    if parts.query or parts.fragment:
        raise ValueError(f"a base URL must not have a query string or a fragment (?key=... or #...): {_KEY_HINT}")
    if _KEY_SHAPED.search(url):
        raise ValueError(f"a base URL must not contain an API key (sk-..., ...): {_KEY_HINT}")


def without_secrets(url: str) -> str:
    """A stored base URL from before secrets were refused, with user info, query and key-shaped parts removed."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return _KEY_SHAPED.sub("[removed]", urlunsplit((parts.scheme, netloc, parts.path, "", "")))

# Model-name patterns -> family, so that labelers sharing pretraining are recognised as kin.
_FAMILY_PATTERNS = [
    (r"claude", "claude"),
    (r"gpt|chatgpt|davinci|^o\d", "gpt"),
    (r"llama", "llama"),
    (r"gemini|gemma", "gemini"),
    (r"palm|bison", "palm"),
    (r"mistral|mixtral", "mistral"),
    (r"qwen", "qwen"),
    (r"deepseek", "deepseek"),
    (r"falcon", "falcon"),
    (r"phi-?\d", "phi"),
]


def default_family(model: str) -> str:
    """Guess a model family from its name (``"gpt-4o" -> "gpt"``); ``"other"`` when unknown."""
    name = model.lower()
    for pattern, family in _FAMILY_PATTERNS:
        if re.search(pattern, name):
            return family
    return "other"


@dataclass(frozen=True)
class LabelerConfig:
    """Everything that defines a labeler. `version` hashes the parts that change its outputs."""

    name: str
    provider: str
    model: str
    family: str = ""
    base_url: str | None = None
    prompt_template: str = ""
    temperature: float = 0.0
    max_tokens: int = 256
    n_samples: int = 1
    both_orders: bool = False
    # Name of the environment variable (or st.secrets key) holding this labeler's API key; None
    # means the provider's default (OPENAI_API_KEY / ANTHROPIC_API_KEY). Never the key itself.
    api_key_env: str | None = None
    # A task of several criteria: one call per criterion instead of one call answering all of them.
    per_criterion: bool = False

    def __post_init__(self):
        if not self.name.strip():
            raise ValueError("a labeler needs a name")
        if self.provider not in PROVIDERS:
            raise ValueError(f"provider must be one of {', '.join(PROVIDERS)}; got {self.provider!r}")
        if not self.model.strip():
            raise ValueError("a labeler needs a model name")
        if self.n_samples < 1:
            raise ValueError(f"samples per item must be at least 1; got {self.n_samples}")
        if self.max_tokens < 1:
            raise ValueError(f"max tokens must be at least 1; got {self.max_tokens}")
        if not 0 <= self.temperature <= 2:
            raise ValueError(f"temperature must lie in [0, 2]; got {self.temperature}")
        if self.provider == "openai-compatible" and not self.base_url:
            raise ValueError("an openai-compatible labeler needs a base URL")
        if self.base_url:
            check_base_url(self.base_url)
        if self.api_key_env and not KEY_ENV_PATTERN.fullmatch(self.api_key_env):
            raise ValueError(
                f"API key variable {self.api_key_env!r} is not allowed: use OPENAI_API_KEY, ANTHROPIC_API_KEY or a"
                " variable named LABELGATE_<NAME>_KEY (only these are ever read, so a labeler cannot send"
                " another secret of the server to a model API)")
        if not self.family:
            object.__setattr__(self, "family", default_family(self.model))
        object.__setattr__(self, "per_criterion", bool(self.per_criterion))

    @property
    def version(self) -> str:
        """Hash of the output-relevant settings; name, family and key variable are not behaviour."""
        relevant = {k: v for k, v in asdict(self).items() if k not in ("name", "family", "api_key_env")}
        if not relevant["per_criterion"]:
            del relevant["per_criterion"]   # the default: versions from before criteria keep their hash
        blob = json.dumps(relevant, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def with_changes(self, **changes) -> LabelerConfig:
        return replace(self, **changes)
