"""The query path: resolve follow-ups, retrieve, answer (extractive or LLM), verify, cite or abstain."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from rag.answer import Draft, ExtractiveAnswerer, idf_table, merge_drafts, not_found
from rag.embed import Embedder
from rag.errors import IndexNotReady, InvalidInput, LLMError
from rag.followup import is_follow_up, resolve
from rag.query import QueryInfo
from rag.retrieve import Filters, Reranker, Retriever
from rag.settings import Settings
from rag.store import VectorIndex, index_signature
from rag.types import Answer, Chunk, Citation, Passage, RelatedPassage
from rag.verify import verify_answer

log = logging.getLogger(__name__)
_CONTROL = {c for c in range(32) if c not in (9, 10, 13)} | {0x7F, 0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF}


class LLMAnswerer(Protocol):
    """Writes an answer with [n] markers from numbered passages."""

    prompt_version: str

    def write(self, question: str, passages: list[Passage]) -> str: ...

    def stream(self, question: str, passages: list[Passage]) -> Iterator[str]: ...


def clean_question(question: str, limit: int) -> str:
    """Strip control and zero-width characters; refuse empty or over-long questions."""
    text = "".join(ch for ch in question if ord(ch) not in _CONTROL).strip()
    if not text:
        raise InvalidInput("the question is empty")
    if len(text) > limit:
        raise InvalidInput(f"the question is {len(text)} characters; the limit is {limit}")
    return text


@dataclass
class Loaded:
    """Everything built from one index version, swapped as a whole when a new version is published."""

    retriever: Retriever
    answerer: ExtractiveAnswerer
    by_doc: dict[str, list[Chunk]]
    texts: dict[str, str]


class QA:
    """Answers questions from the live index version; reloads when a new version is published."""

    def __init__(
        self, settings: Settings, embedder: Embedder, index: VectorIndex,
        llm: LLMAnswerer | None = None, reranker: Reranker | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.index = index
        self.llm = llm
        self.reranker = reranker
        self._lock = threading.Lock()
        self._loaded: Loaded | None = None
        self._checked = 0.0
        self.refresh(force=True)

    # -- the live index -----------------------------------------------------------------------------

    def refresh(self, force: bool = False) -> bool:
        """Load the live version if it changed (checked at most once a second); True when reloaded."""
        now = time.monotonic()
        if not force and now - self._checked < 1.0:
            return False
        self._checked = now
        current = self.index.current()
        if current is None or (self._loaded and self._loaded.retriever.version.name == current):
            return False
        with self._lock:
            if self._loaded and self._loaded.retriever.version.name == current:
                return False
            version = self.index.open(current)
            version.check(index_signature(self.settings, self.embedder.name))
            retriever = Retriever(version, self.embedder, self.settings.candidates, self.reranker)
            by_doc: dict[str, list[Chunk]] = {}
            for c in retriever.chunks:
                by_doc.setdefault(c.doc_id, []).append(c)
            texts = {d: version.document(d)[1] for d in retriever.docs}
            answerer = ExtractiveAnswerer(idf_table(retriever.chunks), "\n".join(texts.values()), self.settings.abstain_threshold)
            self._loaded = Loaded(retriever, answerer, by_doc, texts)
            log.info("serving index version %s (%d chunks)", current, len(retriever.chunks))
            return True

    @property
    def loaded(self) -> Loaded:
        self.refresh()
        if self._loaded is None:
            raise IndexNotReady("the index is empty: run `policyqa ingest` first")
        return self._loaded

    @property
    def ready(self) -> bool:
        return self._loaded is not None

    # -- asking ------------------------------------------------------------------------------------

    def resolve(self, question: str, history: list[str] | None = None) -> str:
        """Rewrite a follow-up into a self-contained question using the earlier user turns."""
        loaded = self.loaded
        resolved_prev: str | None = None
        for turn in history or []:
            resolved_prev = self._resolve_one(loaded, turn, resolved_prev)
        return self._resolve_one(loaded, question, resolved_prev)

    def _resolve_one(self, loaded: Loaded, question: str, previous: str | None) -> str:
        if previous is None:
            return question
        info = loaded.retriever.analyze(question)
        if not is_follow_up(question, info):
            return question
        return resolve(question, info, previous, loaded.retriever.analyze(previous))

    def ask(
        self, question: str, top_k: int | None = None, filters: Filters | None = None,
        history: list[str] | None = None, use_llm: bool = True,
    ) -> Answer:
        """Answer one question (with earlier user turns for follow-ups)."""
        started = time.perf_counter()
        answer, passages = self._extractive(question, top_k, filters, history)
        if use_llm and self.llm is not None and passages:
            t = time.perf_counter()
            timings = answer.timings_ms
            answer = self._llm(answer, answer.resolved_question, passages)
            answer.timings_ms = {**timings, "answer": timings["answer"] + _ms(t)}
        answer.timings_ms["total"] = _ms(started)
        return answer

    def _extractive(
        self, question: str, top_k: int | None, filters: Filters | None, history: list[str] | None,
    ) -> tuple[Answer, list[Passage]]:
        """The checked extractive answer and the passages it was drawn from (an LLM writes from the same ones)."""
        question = clean_question(question, self.settings.max_question_chars)
        history = [clean_question(h, self.settings.max_question_chars) for h in history or []]
        k = top_k or self.settings.top_k
        if not 1 <= k <= 50:
            raise InvalidInput(f"top_k ({k}) must be between 1 and 50")
        loaded = self.loaded
        resolved = self.resolve(question, history)
        timings: dict[str, float] = {}
        info, passages, draft = self._draft(loaded, resolved, k, filters, timings)
        inherited = [y for y in info.years if y not in question]
        if draft.abstained and inherited:
            # "北京呢？" after a 2021 question: the report may give Beijing's figure without that year
            resolved = re.sub("|".join(rf"{y}年?" for y in inherited), "", resolved)
            info, passages, draft = self._draft(loaded, resolved, k, filters, timings)
        # "连续几年写入政府工作报告？经济发展动能正从什么向什么跃升？": a later question that stands on its own is
        # answered on its own too; a short one ("是第几条？", "占全国的比例是多少？") is covered by the whole question
        later = [p for p in re.findall(r"[^？?]+[？?]?", resolved)[1:] if len(p.strip(" ？?")) >= 10]
        drafts = [draft]
        for part in later:
            part_info = loaded.retriever.analyze(part)
            if not is_follow_up(part, part_info):
                _, found, part_draft = self._draft(loaded, part, k, filters, timings, part_info)
                drafts.append(part_draft)
                passages += [p for p in found if p.chunk.id not in {q.chunk.id for q in passages}]
        t = time.perf_counter()
        answer = self._compose(question, resolved, info, merge_drafts(drafts), passages, loaded)
        timings["answer"] += _ms(t)
        answer.timings_ms = timings
        return answer, passages

    def _draft(
        self, loaded: Loaded, question: str, k: int, filters: Filters | None, timings: dict[str, float],
        info: QueryInfo | None = None,
    ) -> tuple[QueryInfo, list[Passage], Draft]:
        """Retrieve for one question and draft its extractive answer; stage times add up in `timings`."""
        info = info or loaded.retriever.analyze(question)
        stages: dict[str, float] = {}
        t = time.perf_counter()
        passages = loaded.retriever.search(question, k, filters, stages, info)
        stages["retrieve"] = _ms(t)
        t = time.perf_counter()
        draft = loaded.answerer.answer(info, passages, loaded.by_doc)
        stages["answer"] = _ms(t)
        for stage, ms in stages.items():
            timings[stage] = timings.get(stage, 0.0) + ms
        return info, passages, draft

    def ask_stream(
        self, question: str, top_k: int | None = None, filters: Filters | None = None, history: list[str] | None = None,
    ) -> Iterator[tuple[str, str | Answer]]:
        """("delta", text) pieces as the answer is written, then ("answer", the checked Answer)."""
        if self.llm is None:
            answer = self.ask(question, top_k, filters, history)
            for line in re.split(r"(?<=[。！？\n])", answer.answer):
                if line:
                    yield "delta", line
            yield "answer", answer
            return
        started = time.perf_counter()
        extractive, passages = self._extractive(question, top_k, filters, history)
        pieces: list[str] = []
        try:
            for piece in self.llm.stream(extractive.resolved_question, passages):
                pieces.append(piece)
                yield "delta", piece
            answer = self.check_llm(extractive, "".join(pieces), passages)
        except LLMError as exc:
            log.warning("LLM stream failed, answering extractively: %s", exc.message)
            answer = extractive
        answer.timings_ms = {**extractive.timings_ms, "total": _ms(started)}
        yield "answer", answer

    def search(self, query: str, k: int = 10, filters: Filters | None = None) -> list[Passage]:
        """Citation lookup: ranked passages, exact matches of the query first."""
        query = clean_question(query, self.settings.max_question_chars)
        loaded = self.loaded
        exact = [c for c in loaded.retriever.chunks if query in c.text and (filters is None or filters.accepts(c, loaded.retriever.docs[c.doc_id]))]
        ranked = loaded.retriever.search(query, min(50, max(k, 1)), filters)
        out = [Passage(chunk=c, title=loaded.retriever.docs[c.doc_id].title, score=1.0) for c in exact]
        out += [p for p in ranked if p.chunk.id not in {c.id for c in exact}]
        return out[:k]

    def document_text(self, doc_id: str) -> str:
        return self.loaded.texts.get(doc_id, "")

    # -- composing ---------------------------------------------------------------------------------

    def _compose(self, question: str, resolved: str, info: QueryInfo, draft: Draft, passages: list[Passage], loaded: Loaded) -> Answer:
        version = loaded.retriever.version.name
        if draft.abstained or not draft.sentences:
            return self._abstain(question, resolved, info, passages, version, draft.absent)
        titles = {d.id: d.title for d in loaded.retriever.docs.values()}
        citations: list[Citation] = []
        parts = []
        for sentence, cites in draft.sentences:
            marks = []
            for c in cites:
                same = next((x for x in citations if x.chunk_id == c.chunk_id and x.quote == c.quote), None)
                if same is None:
                    same = c.model_copy(update={"n": len(citations) + 1, "title": titles.get(c.document_id, c.document_id)})
                    citations.append(same)
                marks.append(f"[{same.n}]")
            sentence = sentence.rstrip("；;，,")
            end = "" if sentence.endswith(("。", "！", "？", ".", "!", "?", "”")) else "。"
            parts.append(f"{sentence}{''.join(marks)}{end}")
        text = "\n".join(parts) if len(parts) > 2 else "".join(parts)
        if info.english:
            text = "According to the documents (quoted in Chinese): " + text
        verified, claims = verify_answer(text, citations)
        if not verified.strip():
            return self._abstain(question, resolved, info, passages, version)
        used = {n for cl in claims if cl.verified for n in cl.citations}
        citations = [c for c in citations if c.n in used] or citations
        return Answer(
            question=question, resolved_question=resolved, answer=verified, abstained=False,
            citations=citations, claims=claims, mode="extractive", index_version=version,
        )

    def _abstain(
        self, question: str, resolved: str, info: QueryInfo, passages: list[Passage], version: str, absent: str = "",
    ) -> Answer:
        related = [
            RelatedPassage(
                chunk_id=p.chunk.id, document_id=p.chunk.doc_id, title=p.title, section=p.chunk.place(),
                page=p.chunk.page or None, text=p.chunk.text, score=p.score,
            )
            for p in passages[:3]
        ]
        return Answer(
            question=question, resolved_question=resolved, answer=not_found(info.english, absent),
            abstained=True, related=related, mode="extractive", index_version=version,
        )

    def _llm(self, extractive: Answer, resolved: str, passages: list[Passage]) -> Answer:
        """The LLM writes from the numbered passages; its numbers and markers are checked like ours."""
        assert self.llm is not None
        try:
            text = self.llm.write(resolved, passages)
        except LLMError as exc:
            log.warning("LLM failed, answering extractively: %s", exc.message)
            return extractive
        return self.check_llm(extractive, text, passages)

    def check_llm(self, extractive: Answer, text: str, passages: list[Passage]) -> Answer:
        """Keep the verified sentences of an LLM answer; fall back to the extractive answer if none."""
        citations = [
            Citation(
                n=i + 1, chunk_id=p.chunk.id, document_id=p.chunk.doc_id, title=p.title, quote=p.chunk.text,
                text=p.chunk.text, page=p.chunk.page or None, section=p.chunk.place(),
                start=p.chunk.start, end=p.chunk.end,
            )
            for i, p in enumerate(passages)
        ]
        verified, claims = verify_answer(text, citations)
        if not verified.strip() or "文档中没有" in verified or "do not say" in verified:
            return extractive
        used = sorted({n for cl in claims if cl.verified for n in cl.citations})
        renumber = {old: new + 1 for new, old in enumerate(used)}
        cited = [c.model_copy(update={"n": renumber[c.n]}) for c in citations if c.n in renumber]
        verified = re.sub(r"\[(\d+)\]", lambda m: f"[{renumber[int(m.group(1))]}]" if int(m.group(1)) in renumber else "", verified)
        for cl in claims:
            cl.citations = [renumber[n] for n in cl.citations if n in renumber]
        return Answer(
            question=extractive.question, resolved_question=extractive.resolved_question, answer=verified,
            abstained=False, citations=cited, claims=claims, mode="llm",
            prompt_version=self.llm.prompt_version if self.llm else None, index_version=extractive.index_version,
        )


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000, 2)
