"""The query path: resolve follow-ups, retrieve, answer (extractive or LLM), verify, cite or abstain."""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from rag.compose import Composer, Draft, citation
from rag.embed import Embedder
from rag.errors import IndexNotReady, InvalidInput, LLMError, NotFound
from rag.evidence import Evidence, EvidenceScorer, Verdict
from rag.followup import is_follow_up, resolve
from rag.question import Ask, Reader, Reading
from rag.retrieve import Filters, Reranker, Retriever
from rag.settings import Settings
from rag.store import VectorIndex, index_signature
from rag.types import Answer, Chunk, Citation, DocumentInfo, Passage, RelatedPassage
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
    reader: Reader
    scorer: EvidenceScorer
    composer: Composer
    texts: dict[str, str]

    @property
    def version(self) -> str:
        return self.retriever.version.name


class QA:
    """Wiring: read the question, retrieve, score evidence, compose, verify; reloads when a new version is published."""

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
        if current is None or (self._loaded and self._loaded.version == current):
            return False
        with self._lock:
            if self._loaded and self._loaded.version == current:
                return False
            version = self.index.open(current)
            version.check(index_signature(self.settings, self.embedder.name))
            retriever = Retriever(version, self.embedder, self.settings.candidates, self.reranker)
            texts = {d: version.document(d)[1] for d in retriever.docs}
            titles = {d.id: d.title for d in retriever.docs.values()}
            self._loaded = Loaded(
                retriever=retriever,
                reader=Reader(retriever.lexicon, "\n".join(texts.values())),
                scorer=EvidenceScorer(
                    retriever.units, idf_table(retriever.units.tokens), texts, titles, names=retriever.lexicon.titles,
                ),
                composer=Composer(retriever.units, titles),
                texts=texts,
            )
            log.info("serving index version %s (%d chunks, %d units)", current, len(retriever.chunks), len(retriever.units.units))
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

    # -- what the routes read ------------------------------------------------------------------------

    @property
    def version(self) -> str:
        return self.loaded.version

    def documents(self) -> list[DocumentInfo]:
        return sorted(self.loaded.retriever.docs.values(), key=lambda d: d.id)

    def document(self, doc_id: str) -> DocumentInfo:
        doc = self.loaded.retriever.docs.get(doc_id)
        if doc is None:
            raise NotFound(f"no document with id '{doc_id}'")
        return doc

    def document_text(self, doc_id: str) -> str:
        return self.loaded.texts.get(doc_id, "")

    def chunk(self, chunk_id: str) -> tuple[Chunk, list[Chunk]]:
        """A chunk and its neighbours in its document (one either side)."""
        retriever = self.loaded.retriever
        if chunk_id not in retriever.by_id:
            raise NotFound(f"no chunk with id '{chunk_id}'")
        chunk = retriever.chunks[retriever.by_id[chunk_id]]
        return chunk, [c for c in retriever.neighbours(chunk_id, 1) if c.id != chunk_id]

    def size(self) -> tuple[int, int]:
        """Documents and chunks in the live version."""
        retriever = self.loaded.retriever
        return len(retriever.docs), len(retriever.chunks)

    # -- asking ------------------------------------------------------------------------------------

    def _resolve(self, question: str, history: list[str] | None = None) -> str:
        """Rewrite a follow-up into a self-contained question using the earlier user turns."""
        reader = self.loaded.reader
        previous: str | None = None
        for turn in [*(history or []), question]:
            if previous is not None:
                ask = reader.read(turn).asks[0]
                if is_follow_up(turn, ask):
                    turn = resolve(turn, ask, previous, reader.read(previous).asks[0], reader.names)
            previous = turn
        return previous or question

    def read(self, question: str, history: list[str] | None = None) -> tuple[str, Reading]:
        """The self-contained question and its reading. A year carried over from an earlier turn
        ("2021年深圳…有多少家？" then "北京呢？") stays in the searched text but is not a constraint the
        evidence must meet: the user did not ask it again, and the other city's figure may be undated."""
        resolved = self._resolve(question, history)
        reading = self.loaded.reader.read(resolved)
        if resolved != question:
            for ask in reading.asks:
                ask.years = [y for y in ask.years if y in question]
        return resolved, reading

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
            answer.timings_ms = {**timings, "llm": _ms(t)}
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
        timings: dict[str, float] = {}
        t = time.perf_counter()
        resolved, reading = self.read(question, history)
        timings["read"] = _ms(t)
        t = time.perf_counter()
        vectors = self.embedder.embed_queries([a.text for a in reading.asks])
        timings["embed"] = _ms(t)
        allowed = None
        if filters is not None and filters.where():
            docs = loaded.retriever.docs
            allowed = {c.id for c in loaded.retriever.chunks if filters.accepts(c, docs[c.doc_id])}
        found: list[tuple[Ask, list[Evidence], Verdict]] = []
        passages: list[Passage] = []
        for ask, vector in zip(reading.asks, vectors, strict=True):
            t = time.perf_counter()
            hits = loaded.retriever.search(ask.text, k, filters, {}, ask, vector)
            timings["retrieve"] = timings.get("retrieve", 0.0) + _ms(t)
            t = time.perf_counter()
            ranked = loaded.scorer.candidates(ask, vector, hits, allowed)
            found.append((ask, ranked, loaded.scorer.verdict(ask, ranked)))
            timings["evidence"] = timings.get("evidence", 0.0) + _ms(t)
            passages += [p for p in hits if p.chunk.id not in {q.chunk.id for q in passages}]
        t = time.perf_counter()
        if reading.absent:
            draft = Draft(unanswered=[reading.absent])
        else:
            draft = loaded.composer.compose(reading, found)
        answer = self._answer(question, resolved, reading, draft, passages, loaded)
        timings["compose"] = _ms(t)
        answer.timings_ms = timings
        return answer, passages

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

    def lookup(self, query: str, k: int = 10, filters: Filters | None = None) -> tuple[list[Passage], int]:
        """Citation lookup: the passages holding the query verbatim first (flagged `exact`), then the closest ones;
        with how many passages hold it verbatim in all (the k returned show at most k of them)."""
        query = clean_question(query, self.settings.max_question_chars)
        retriever = self.loaded.retriever
        exact = [c for c in retriever.chunks if query in c.text and (filters is None or filters.accepts(c, retriever.docs[c.doc_id]))]
        ranked = retriever.search(query, min(50, max(k, 1)), filters)
        out = [Passage(chunk=c, title=retriever.docs[c.doc_id].title, score=1.0, exact=True) for c in exact]
        out += [p for p in ranked if p.chunk.id not in {c.id for c in exact}]
        return out[:k], len(exact)

    # -- the answer --------------------------------------------------------------------------------

    def _answer(self, question: str, resolved: str, reading: Reading, draft: Draft, passages: list[Passage], loaded: Loaded) -> Answer:
        """Number the citations, verify every number against its quote, and say what the documents lack."""
        if draft.abstained:
            return self._abstain(question, resolved, reading, passages, loaded.version, draft.unanswered)
        titles = {d.id: d.title for d in loaded.retriever.docs.values()}
        citations: list[Citation] = []
        parts = []
        for sentence, quoted in draft.sentences:
            marks = []
            for unit, chunk in quoted:
                same = next((c for c in citations if c.chunk_id == chunk.id and c.start == unit.start), None)
                if same is None:
                    same = citation(unit, chunk, len(citations) + 1, titles.get(chunk.doc_id, chunk.doc_id))
                    citations.append(same)
                marks.append(f"[{same.n}]")
            sentence = sentence.rstrip("；;，,：:")
            end = "" if sentence.endswith(("。", "！", "？", ".", "!", "?", "”", "|")) else "。"
            parts.append(f"{sentence}{''.join(marks)}{end}")
        text = "\n".join(parts) if len(parts) > 2 or any("|" in p for p in parts) else "".join(parts)
        if reading.english:
            text = "According to the documents (quoted in Chinese): " + text
        verified, claims = verify_answer(text, citations)
        if not verified.strip():
            return self._abstain(question, resolved, reading, passages, loaded.version, draft.unanswered)
        used = {n for cl in claims if cl.verified for n in cl.citations}
        citations = [c for c in citations if c.n in used] or citations
        if draft.unanswered:
            verified += "\n" + not_found(reading.english, draft.unanswered, partial=True)
        return Answer(
            question=question, resolved_question=resolved, answer=verified, abstained=False,
            citations=citations, claims=claims, mode="extractive", index_version=loaded.version,
        )

    def _abstain(
        self, question: str, resolved: str, reading: Reading, passages: list[Passage], version: str, unanswered: list[str],
    ) -> Answer:
        related = [
            RelatedPassage(
                chunk_id=p.chunk.id, document_id=p.chunk.doc_id, title=p.title, section=p.chunk.place(),
                page=p.chunk.page or None, text=p.chunk.text, score=p.score,
            )
            for p in passages[:3]
        ]
        absent = [reading.absent] if reading.absent else []
        return Answer(
            question=question, resolved_question=resolved, answer=not_found(reading.english, absent),
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


def not_found(english: bool, absent: list[str], partial: bool = False) -> str:
    """The abstention message; a partial one names the parts of the question the documents do not answer."""
    if partial:
        said = "、".join(f"“{a}”" for a in absent)
        return f"The documents do not answer: {said}." if english else f"文档中没有找到关于{said}的内容。"
    if english:
        said = f"The documents do not include {absent[0]}." if absent else "The documents do not say."
        return said + " The closest passages are listed below for reference."
    said = f"文档中没有{absent[0]}。" if absent else "文档中没有找到能回答这个问题的内容。"
    return said + "以下是最接近的段落，供参考。"


def idf_table(unit_tokens: list[list[str]]) -> dict[str, float]:
    """Inverse document frequency of every search token over the units."""
    df: Counter[str] = Counter()
    for toks in unit_tokens:
        df.update(set(toks))
    n = max(1, len(unit_tokens))
    return {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000, 2)
