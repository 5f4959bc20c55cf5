"""Optional LLM answers through any OpenAI-compatible endpoint, with versioned prompts from prompts/."""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Iterator
from pathlib import Path

from rag.errors import LLMError, PromptError
from rag.settings import Settings
from rag.types import Passage

log = logging.getLogger(__name__)
PLACEHOLDERS = {"passages", "question"}


def load_prompt(prompts_dir: Path, version: str) -> tuple[str, str]:
    """(system, user) templates of a prompt version; placeholders are checked here, at start-up."""
    path = prompts_dir / f"{version}.txt"
    if not path.is_file():
        raise PromptError(f"prompt version '{version}' not found in {prompts_dir}")
    parts = re.split(r"^# (system|user)\s*$", path.read_text(encoding="utf-8"), flags=re.M)
    sections = dict(zip(parts[1::2], (p.strip() for p in parts[2::2]), strict=True))
    if set(sections) != {"system", "user"}:
        raise PromptError(f"{path.name}: needs a '# system' and a '# user' section")
    found = {f for s in sections.values() for _, f, _, _ in string.Formatter().parse(s) if f}
    if found != PLACEHOLDERS:
        raise PromptError(f"{path.name}: placeholders {sorted(found)} but {sorted(PLACEHOLDERS)} are required")
    return sections["system"], sections["user"]


def number_passages(passages: list[Passage]) -> str:
    """Passages as the LLM sees them: numbered, with title and place, fenced as data."""
    return "\n\n".join(
        f"[{i}] 《{p.title}》 {p.chunk.location()}\n<<<\n{p.chunk.text}\n>>>" for i, p in enumerate(passages, 1)
    )


class ChatLLM:
    """langchain's ChatOpenAI behind our LLMAnswerer protocol."""

    def __init__(self, settings: Settings) -> None:
        from langchain_core.prompts import ChatPromptTemplate
        from langchain_openai import ChatOpenAI

        system, user = load_prompt(settings.prompts_dir, settings.llm_prompt)
        self.prompt_version = settings.llm_prompt
        self._prompt = ChatPromptTemplate.from_messages([("system", system), ("human", user)])
        self._model = ChatOpenAI(
            base_url=settings.llm_base_url, model=settings.llm_model,
            api_key=settings.llm_api_key.get_secret_value() or "not-needed",  # type: ignore[arg-type]
            temperature=0, timeout=settings.llm_timeout_s, max_retries=1,
        )

    def _messages(self, question: str, passages: list[Passage]):  # type: ignore[no-untyped-def]
        return self._prompt.format_messages(question=question, passages=number_passages(passages))

    def write(self, question: str, passages: list[Passage]) -> str:
        try:
            reply = self._model.invoke(self._messages(question, passages))
        except Exception as exc:  # the client raises many transport and API error types
            raise LLMError(f"the LLM endpoint failed: {type(exc).__name__}") from exc
        log.info("llm answer with prompt %s", self.prompt_version)
        return str(reply.content)

    def stream(self, question: str, passages: list[Passage]) -> Iterator[str]:
        try:
            for chunk in self._model.stream(self._messages(question, passages)):
                if chunk.content:
                    yield str(chunk.content)
        except Exception as exc:
            raise LLMError(f"the LLM endpoint failed: {type(exc).__name__}") from exc


def build_llm(settings: Settings) -> ChatLLM | None:
    return ChatLLM(settings) if settings.llm_base_url and settings.llm_model else None
