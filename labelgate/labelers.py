"""What a labeler is: a model, a prompt and settings, fingerprinted into a version."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, replace

PROVIDERS = ("openai", "anthropic", "openai-compatible", "import")
KEY_ENV_PATTERN = re.compile(r"OPENAI_API_KEY|ANTHROPIC_API_KEY|LABELGATE_[A-Z0-9_]+_KEY")

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
        if self.api_key_env and not KEY_ENV_PATTERN.fullmatch(self.api_key_env):
            raise ValueError(
                f"API key variable {self.api_key_env!r} is not allowed: use OPENAI_API_KEY, ANTHROPIC_API_KEY or a"
                " variable named LABELGATE_<NAME>_KEY (only these are ever read, so a labeler cannot send"
                " another secret of the server to a model API)")
        if not self.family:
            object.__setattr__(self, "family", default_family(self.model))

    @property
    def version(self) -> str:
        """Hash of the output-relevant settings; name, family and key variable are not behaviour."""
        relevant = {k: v for k, v in asdict(self).items() if k not in ("name", "family", "api_key_env")}
        blob = json.dumps(relevant, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def with_changes(self, **changes) -> LabelerConfig:
        return replace(self, **changes)
