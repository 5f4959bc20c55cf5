"""Ingest: files → clean text → chunks → vectors, built into a new index version and then published."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ingest.chunk import Chunker
from ingest.clean import clean_pages, clean_text
from ingest.load import SUPPORTED, RawDocument, load
from ingest.manifest import MANIFEST, guess_info, read_manifest, slug
from rag import lexicon
from rag.embed import Embedder
from rag.errors import UnreadableDocument
from rag.settings import Settings
from rag.store import IndexVersion, VectorIndex, index_signature
from rag.text import add_words
from rag.types import Chunk, DocumentInfo
from rag.units import Unit, embed_text, search_tokens, split_units

log = logging.getLogger(__name__)
NOTES = {MANIFEST, "SOURCES.md", "README.md"}  # a corpus folder's own notes, not documents
EMBED_SLICE = 64  # texts embedded between two progress reports


@dataclass(frozen=True)
class Progress:
    """Where a running ingest is: files read, then passages and their sentences embedded (the slow part)."""

    stage: Literal["reading", "embedding", "publishing"]
    file: str
    files_done: int
    files_total: int
    chunks_done: int = 0
    chunks_total: int = 0
    done: int = 0  # texts embedded: passages plus the sentences they are split into
    total: int = 0
    elapsed: float = 0.0
    embed_seconds: float = 0.0

    @property
    def percent(self) -> int:
        if self.stage == "publishing":
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def eta(self) -> float | None:
        """Seconds left at the embedding rate so far; None until it can be told."""
        if self.stage != "embedding" or self.done < 1 or self.embed_seconds <= 0:
            return None
        return (self.total - self.done) * self.embed_seconds / self.done

    def describe(self) -> str:
        """The progress line the log, the CLI and the server share."""
        if self.stage == "reading":
            return f"reading files {self.files_done}/{self.files_total} ({self.file})"
        if self.stage == "publishing":
            return f"publishing the index: {self.chunks_total} passages of {self.files_total} documents"
        eta = "" if self.eta is None or self.done >= self.total else f", ETA {format_seconds(self.eta)}"
        return (
            f"indexing {self.percent}%: documents {self.files_done}/{self.files_total}, "
            f"passages {self.chunks_done}/{self.chunks_total}{eta}"
        )


def format_seconds(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class ProgressLog:
    """Logs progress lines sparingly: at each stage change, every `step` percent, or `every` seconds."""

    def __init__(self, emit: Callable[[str], None], step: int = 10, every: float = 15.0) -> None:
        self.emit = emit
        self.step = step
        self.every = every
        self._last: tuple[str, int, float] | None = None

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        if self._last is not None:
            stage, percent, at = self._last
            if stage == p.stage and p.percent < percent + self.step and now - at < self.every and p.done < p.total:
                return
            if stage == p.stage == "reading" and now - at < self.every and p.files_done < p.files_total:
                return
        self._last = (p.stage, p.percent - p.percent % self.step, now)
        self.emit(p.describe())


@dataclass
class IngestReport:
    """What an ingest did; `failed` names each unreadable file with the reason."""

    documents: int = 0
    pages: int = 0
    chunks: int = 0
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # files of a type that is not read
    version: str | None = None
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


class Ingestor:
    """Builds index versions from corpus files, incrementally, one build at a time."""

    def __init__(self, settings: Settings, embedder: Embedder, index: VectorIndex) -> None:
        self.settings = settings
        self.embedder = embedder
        self.index = index
        self.chunker = Chunker(settings.chunk_size, settings.chunk_min)
        self.signature = index_signature(settings, embedder.name)

    def expand(self, paths: Sequence[Path], report: IngestReport) -> list[Path]:
        """Files to read: named files as given, folders walked recursively; what cannot be read goes in `report`.

        In a folder, hidden files and the corpus notes (manifest, SOURCES.md, README.md) are passed over quietly;
        any other file of an unsupported type is listed as skipped.
        """
        files: dict[Path, Path] = {}
        for path in map(Path, paths):
            if path.is_dir():
                for found in sorted(path.rglob("*")):
                    inside = found.relative_to(path).parts
                    if not found.is_file() or any(part.startswith(".") for part in inside) or found.name in NOTES:
                        continue
                    self._take(found, files, report)
            elif path.is_file():
                self._take(path, files, report)
            else:
                report.failed[str(path)] = f"{path}: no such file or folder"
        return list(files.values())

    def _take(self, path: Path, files: dict[Path, Path], report: IngestReport) -> None:
        if path.suffix.lower() not in SUPPORTED:
            kinds = ", ".join(sorted(SUPPORTED))
            report.skipped[str(path)] = f"unsupported file type '{path.suffix or path.name}' (read: {kinds})"
        else:
            files.setdefault(path.resolve(), path)

    def run(
        self,
        paths: list[Path] | None = None,
        *,
        remove: list[str] | None = None,
        rebuild: bool = False,
        progress: Callable[[Progress], None] | None = None,
        on_before_publish: Callable[[], None] | None = None,
    ) -> IngestReport:
        """Ingest `paths`, files or folders (default: sync with the whole corpus folder, dropping documents whose file is gone)."""
        started = time.perf_counter()
        report = IngestReport()
        corpus = self.settings.corpus_dir
        sync = paths is None
        files = self.expand([corpus] if sync else list(paths or []), report)
        manifest = read_manifest(corpus)
        tell = progress or (lambda p: None)
        with self.index.writer_lock():
            previous = self._previous(rebuild)
            old = {d.id: d for d in previous.documents()} if previous else {}
            wanted: dict[str, tuple[Path, RawDocument, DocumentInfo]] = {}
            for n, path in enumerate(files):
                tell(Progress("reading", path.name, n, len(files), elapsed=time.perf_counter() - started))
                try:
                    raw = load(path, int(self.settings.max_file_mb * 1e6), self.settings.max_pdf_pages)
                except UnreadableDocument as exc:
                    report.failed[str(path)] = exc.message
                    log.warning("not indexed: %s", exc.message)
                    continue
                info = self._info(path, raw, manifest)
                if info.id in wanted:
                    report.failed[str(path)] = f"{path.name}: duplicate document id '{info.id}' (also {wanted[info.id][0].name})"
                    continue
                wanted[info.id] = (path, raw, info)
                report.pages += len(raw.pages)
            drop = set(remove or [])
            if sync:
                drop |= {d for d in old if d not in wanted and not self._failed_id(d, report)}
            report.removed = sorted(d for d in drop if d in old)
            todo = {}
            for doc_id, (path, raw, info) in wanted.items():
                prev = old.get(doc_id)
                if prev and prev.sha256 == raw.sha256 and prev.model_dump(exclude={"chunks", "pages", "sha256"}) == info.model_dump(exclude={"chunks", "pages", "sha256"}):
                    report.unchanged.append(doc_id)
                else:
                    (report.updated if prev else report.added).append(doc_id)
                    todo[doc_id] = (path, raw, info)
            if not report.changed and previous is not None:
                report.version = previous.name
                return self._finish(report, previous, started)
            build = self.index.create(self.signature)
            try:
                for doc_id in old:
                    if doc_id not in todo and doc_id not in drop:
                        build.copy_document(previous, doc_id)  # type: ignore[arg-type]
                prepared = []
                for doc_id, (path, raw, info) in todo.items():
                    try:
                        prepared.append((path, info, *self._prepare(raw, info)))
                    except UnreadableDocument as exc:
                        report.failed[str(path)] = exc.message
                        (report.updated if doc_id in old else report.added).remove(doc_id)
                        if doc_id in old:
                            build.copy_document(previous, doc_id)  # type: ignore[arg-type]
                chunk_count = sum(len(chunks) for *_, chunks, _units in prepared)
                meter = _Meter(tell, started, len(prepared), chunk_count, chunk_count + sum(len(units) for *_, units in prepared))
                for path, info, text, chunks, units in prepared:
                    meter.file = path.name
                    vectors = self._embed([c.embed_text() for c in chunks], meter)
                    meter.chunks_done += len(chunks)
                    unit_vectors = self._embed([embed_text(u, c) for u, c in units], meter)
                    build.add(info, text, chunks, vectors, [u.id for u, _ in units], unit_vectors)
                    meter.files_done += 1
                    meter.report()
                tell(Progress("publishing", "", meter.files_done, meter.files_total, meter.chunks_done, meter.chunks_total,
                              meter.done, meter.total, time.perf_counter() - started))
                self._store_lexicon(build)
                if on_before_publish:
                    on_before_publish()
                self.index.publish(build)
            except BaseException:
                self.index.discard(build.name)
                raise
            self.index.prune()
            report.version = build.name
            return self._finish(report, build, started)

    def _previous(self, rebuild: bool) -> IndexVersion | None:
        if rebuild or not self.index.current():
            return None
        version = self.index.open()
        version.check(self.signature)
        return version

    def _failed_id(self, doc_id: str, report: IngestReport) -> bool:
        """A file that still exists but failed to load keeps its previous chunks."""
        return any(slug(Path(p).stem) == doc_id or Path(p).stem == doc_id for p in report.failed)

    def _info(self, path: Path, raw: RawDocument, manifest: dict[str, DocumentInfo]) -> DocumentInfo:
        corpus = self.settings.corpus_dir.resolve()
        try:
            rel = str(path.resolve().relative_to(corpus))
        except ValueError:
            rel = path.name
        entry = manifest.get(rel)
        if entry is None:
            text = clean_pages(raw.pages)[0].text if raw.paged else clean_text(raw.pages[0]).text
            entry = guess_info(rel, text)
        return entry.model_copy(update={"path": rel, "sha256": raw.sha256, "pages": len(raw.pages) if raw.paged else 0})

    def _prepare(self, raw: RawDocument, info: DocumentInfo) -> tuple[str, list[Chunk], list[tuple[Unit, Chunk]]]:
        """Clean text, chunks and units of one document: everything but the vectors."""
        if raw.paged:
            text, starts = clean_pages(raw.pages)
        else:
            text, starts = clean_text(raw.pages[0]), None
        chunks = self.chunker.chunk(info, text, starts)
        if not chunks:
            raise UnreadableDocument(f"{raw.path.name}: nothing left to index after cleaning")
        return text.text, chunks, [(u, c) for c in chunks for u in split_units(c)]

    def _embed(self, texts: list[str], meter: _Meter) -> np.ndarray:
        """Embed in slices of similar length (little padding), reporting progress after each slice."""
        if not texts:
            return self.embedder.embed_documents([])
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        parts = []
        for at in range(0, len(order), EMBED_SLICE):
            batch = order[at:at + EMBED_SLICE]
            started = time.perf_counter()
            parts.append(self.embedder.embed_documents([texts[i] for i in batch]))
            meter.embed_seconds += time.perf_counter() - started
            meter.done += len(batch)
            meter.report()
        stacked = np.concatenate(parts)
        vectors = np.empty_like(stacked)
        vectors[order] = stacked
        return vectors

    def _store_lexicon(self, build: IndexVersion) -> None:
        """Derive the vocabulary from every document of the build (carried-over ones too), and the search
        tokens cut with it."""
        docs, chunks = build.documents(), build.chunks()
        vocabulary = lexicon.build(docs, {d.id: build.document(d.id)[1] for d in docs}, chunks)
        build.set_lexicon(vocabulary)
        add_words(vocabulary.words())  # the tokens are cut as the retriever will cut the questions
        build.set_tokens(search_tokens(chunks), vocabulary.sha256)

    def _finish(self, report: IngestReport, version: IndexVersion, started: float) -> IngestReport:
        docs = version.documents()
        report.documents = len(docs)
        report.chunks = sum(d.chunks for d in docs)
        report.seconds = time.perf_counter() - started
        return report



@dataclass
class _Meter:
    """Counts of a running build's embedding stage, reported as Progress."""

    tell: Callable[[Progress], None]
    started: float
    files_total: int
    chunks_total: int
    total: int
    file: str = ""
    files_done: int = 0
    chunks_done: int = 0
    done: int = 0
    embed_seconds: float = 0.0

    def report(self) -> None:
        self.tell(Progress(
            "embedding", self.file, self.files_done, self.files_total, self.chunks_done, self.chunks_total,
            self.done, self.total, time.perf_counter() - self.started, self.embed_seconds,
        ))
