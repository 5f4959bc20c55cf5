"""Ingest: files → clean text → chunks → vectors, built into a new index version and then published."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ingest.chunk import Chunker
from ingest.clean import clean_pages, clean_text
from ingest.load import SUPPORTED, RawDocument, load
from ingest.manifest import MANIFEST, guess_info, read_manifest, slug
from rag import lexicon
from rag.embed import Embedder
from rag.errors import UnreadableDocument
from rag.settings import Settings
from rag.store import IndexVersion, VectorIndex, index_signature
from rag.types import DocumentInfo
from rag.units import embed_text, split_units

log = logging.getLogger(__name__)


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

    def scan(self, root: Path) -> list[Path]:
        """Every supported file under the corpus folder (the manifest and notes excluded)."""
        skip = {MANIFEST, "SOURCES.md", "README.md"}
        return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED and p.name not in skip)

    def run(
        self,
        paths: list[Path] | None = None,
        *,
        remove: list[str] | None = None,
        rebuild: bool = False,
        progress: Callable[[str], None] | None = None,
        on_before_publish: Callable[[], None] | None = None,
    ) -> IngestReport:
        """Ingest `paths` (default: sync with the whole corpus folder, dropping documents whose file is gone)."""
        started = time.perf_counter()
        report = IngestReport()
        corpus = self.settings.corpus_dir
        sync = paths is None
        files = self.scan(corpus) if sync else [Path(p) for p in paths or []]
        manifest = read_manifest(corpus)
        with self.index.writer_lock():
            previous = self._previous(rebuild)
            old = {d.id: d for d in previous.documents()} if previous else {}
            wanted: dict[str, tuple[Path, RawDocument, DocumentInfo]] = {}
            for path in files:
                if progress:
                    progress(path.name)
                try:
                    raw = load(path, int(self.settings.max_file_mb * 1e6), self.settings.max_pdf_pages)
                except UnreadableDocument as exc:
                    report.failed[str(path)] = exc.message
                    log.warning("skipped %s", exc.message)
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
                for doc_id, (path, raw, info) in todo.items():
                    if progress:
                        progress(f"embedding {path.name}")
                    try:
                        self._add(build, raw, info)
                    except UnreadableDocument as exc:
                        report.failed[str(path)] = exc.message
                        (report.updated if doc_id in old else report.added).remove(doc_id)
                        if doc_id in old:
                            build.copy_document(previous, doc_id)  # type: ignore[arg-type]
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

    def _add(self, build: IndexVersion, raw: RawDocument, info: DocumentInfo) -> None:
        if raw.paged:
            text, starts = clean_pages(raw.pages)
        else:
            text, starts = clean_text(raw.pages[0]), None
        chunks = self.chunker.chunk(info, text, starts)
        if not chunks:
            raise UnreadableDocument(f"{raw.path.name}: nothing left to index after cleaning")
        vectors = self.embedder.embed_documents([c.embed_text() for c in chunks])
        units = [(u, c) for c in chunks for u in split_units(c)]
        unit_vectors = self.embedder.embed_documents([embed_text(u, c) for u, c in units])
        build.add(info, text.text, chunks, vectors, [u.id for u, _ in units], unit_vectors)

    def _store_lexicon(self, build: IndexVersion) -> None:
        """Derive the vocabulary from every document of the build (carried-over ones too)."""
        docs = build.documents()
        build.set_lexicon(lexicon.build(docs, {d.id: build.document(d.id)[1] for d in docs}, build.chunks()))

    def _finish(self, report: IngestReport, version: IndexVersion, started: float) -> IngestReport:
        docs = version.documents()
        report.documents = len(docs)
        report.chunks = sum(d.chunks for d in docs)
        report.seconds = time.perf_counter() - started
        return report

