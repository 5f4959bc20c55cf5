"""The one module that talks to Chroma: a versioned index where each build is published atomically.

Embedded mode keeps every version in its own folder under `index_dir/versions/` and names the live one
in `index_dir/CURRENT`; server mode (a Chroma URL) keeps versions as collections and the pointer in a
small meta collection. A build that fails or is killed never touches the pointer, so the previous
version keeps answering.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings

from rag import lexicon as lexicon_mod
from rag.errors import IndexMismatch, IndexNotReady, IndexWriteError, NotFound
from rag.lexicon import Lexicon
from rag.settings import Settings
from rag.types import Chunk, DocumentInfo, chunk_metadata

log = logging.getLogger(__name__)
SCHEMA = 2  # 2: units (sentences, rows) are embedded beside the chunks; the lexicon is stored with the version
_LEXICON_ID = "~lexicon"  # records of the docs collection; document ids never start with "~"
_TOKENS_ID = "~tokens"
_BATCH = 2000
_CHUNK_FIELDS = set(Chunk.model_fields) - {"id", "text"}


def index_signature(settings: Settings, embedding_model: str) -> dict[str, Any]:
    """What an index is built with; reading it with anything else is refused."""
    return {"embedding_model": embedding_model, "lexicon_schema": lexicon_mod.SCHEMA, **settings.chunking_signature()}


class IndexVersion:
    """One complete build of the index: its chunks (with vectors) and its cleaned documents."""

    def __init__(self, name: str, chunks: Any, docs: Any, units: Any, root: Path | None = None) -> None:
        self.name = name
        self._chunks = chunks
        self._docs = docs
        self._units = units
        self._root = root

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Translate storage failures (a full disk, a read-only folder) into a clear IndexWriteError."""
        try:
            yield
        except IndexWriteError:
            raise
        except Exception as exc:
            if self._root is not None:
                free = shutil.disk_usage(self._root if self._root.exists() else self._root.parent).free
                if free < 50_000_000:
                    raise IndexWriteError(f"the disk holding {self._root} is full ({free // 1024} KiB free)") from exc
            if isinstance(exc, OSError) or "readonly" in str(exc).lower() or "disk" in str(exc).lower():
                raise IndexWriteError(f"cannot write the index: {exc}") from exc
            raise

    @property
    def signature(self) -> dict[str, Any]:
        meta = dict(self._chunks.metadata or {})
        return {k: v for k, v in meta.items() if k not in {"hnsw:space", "created"}}

    @property
    def lexicon_sha256(self) -> str:
        """The hash of the vocabulary this version was built with ("" before it is stored)."""
        got = self._docs.get(ids=[_LEXICON_ID], include=["metadatas"])
        return str(got["metadatas"][0]["sha256"]) if got["ids"] else ""

    def check(self, signature: dict[str, Any]) -> None:
        """Refuse to read an index built with another model or chunking."""
        have = self.signature
        diff = {k: (have.get(k), v) for k, v in signature.items() if have.get(k) != v}
        if diff:
            detail = ", ".join(f"{k}: index has {a!r}, settings ask {b!r}" for k, (a, b) in diff.items())
            raise IndexMismatch(f"the index was built with other settings ({detail}); re-index with `policyqa ingest --rebuild`")

    # -- writing ----------------------------------------------------------------------------------

    def add(
        self, doc: DocumentInfo, text: str, chunks: Sequence[Chunk], embeddings: Any,
        unit_ids: Sequence[str] = (), unit_embeddings: Any = (),
    ) -> None:
        """Store one document: its chunks and units with their vectors, and its cleaned text for quote checks."""
        with self._writing():
            self._add(doc, text, chunks, embeddings)
            for i in range(0, len(unit_ids), _BATCH):
                self._units.upsert(
                    ids=list(unit_ids[i : i + _BATCH]),
                    embeddings=[list(map(float, e)) for e in unit_embeddings[i : i + _BATCH]],
                    metadatas=[{"doc_id": doc.id} for _ in unit_ids[i : i + _BATCH]],
                )

    def set_lexicon(self, lexicon: Lexicon) -> None:
        """Store the vocabulary derived from this version's documents."""
        with self._writing():
            self._docs.upsert(
                ids=[_LEXICON_ID], embeddings=[[1.0]], documents=[lexicon.to_json()], metadatas=[{"sha256": lexicon.sha256}],
            )

    def lexicon(self) -> Lexicon:
        """The stored vocabulary, checked against its recorded hash."""
        got = self._docs.get(ids=[_LEXICON_ID], include=["documents", "metadatas"])
        if not got["ids"]:
            raise IndexMismatch("the index has no lexicon (built by an older version); re-index with `policyqa ingest --rebuild`")
        lexicon = Lexicon.from_json(got["documents"][0])
        if lexicon.sha256 != got["metadatas"][0]["sha256"]:
            raise IndexMismatch("the index's lexicon does not match its recorded hash; re-index with `policyqa ingest --rebuild`")
        return lexicon

    def set_tokens(self, tokens: dict[str, list[str]], lexicon_sha256: str) -> None:
        """Store the search tokens of every chunk and unit, cut with the vocabulary of `lexicon_sha256`
        (one line per id: the id, a tab, the tokens separated by spaces; tokens hold no whitespace)."""
        text = "\n".join(f"{i}\t{' '.join(t)}" for i, t in tokens.items())
        with self._writing():
            self._docs.upsert(ids=[_TOKENS_ID], embeddings=[[1.0]], documents=[text],
                              metadatas=[{"lexicon_sha256": lexicon_sha256, "format": "tsv"}])

    def tokens(self) -> dict[str, list[str]]:
        """The stored search tokens by chunk or unit id; empty when absent or cut with another vocabulary."""
        got = self._docs.get(ids=[_TOKENS_ID], include=["documents", "metadatas"])
        if not got["ids"] or got["metadatas"][0] != {"lexicon_sha256": self.lexicon_sha256, "format": "tsv"}:
            return {}
        lines = (line.partition("\t") for line in got["documents"][0].split("\n"))
        return {i: t.split(" ") if t else [] for i, _, t in lines}

    def chunk_vectors(self) -> dict[str, np.ndarray]:
        """Every chunk's vector by chunk id."""
        got = self._chunks.get(include=["embeddings"])
        return {i: np.asarray(e, dtype=np.float32) for i, e in zip(got["ids"], got["embeddings"], strict=True)}

    def unit_vectors(self) -> dict[str, np.ndarray]:
        """Every unit's vector by unit id."""
        got = self._units.get(include=["embeddings"])
        return {i: np.asarray(e, dtype=np.float32) for i, e in zip(got["ids"], got["embeddings"], strict=True)}

    def _add(self, doc: DocumentInfo, text: str, chunks: Sequence[Chunk], embeddings: Any) -> None:
        for i in range(0, len(chunks), _BATCH):
            part = chunks[i : i + _BATCH]
            self._chunks.upsert(
                ids=[c.id for c in part],
                embeddings=[list(map(float, e)) for e in embeddings[i : i + _BATCH]],
                documents=[c.text for c in part],
                metadatas=[chunk_metadata(c, doc) for c in part],
            )
        info = doc.model_copy(update={"chunks": len(chunks)})
        meta = {k: (json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v) for k, v in info.model_dump().items()}
        self._docs.upsert(ids=[doc.id], embeddings=[[1.0]], documents=[text], metadatas=[meta])

    def copy_document(self, source: IndexVersion, doc_id: str) -> None:
        """Carry an unchanged document over from the previous version, vectors included."""
        with self._writing():
            self._copy(source, doc_id)

    def _copy(self, source: IndexVersion, doc_id: str) -> None:
        got = source._chunks.get(where={"doc_id": doc_id}, include=["embeddings", "documents", "metadatas"])
        doc = source._docs.get(ids=[doc_id], include=["documents", "metadatas"])
        units = source._units.get(where={"doc_id": doc_id}, include=["embeddings", "metadatas"])
        for i in range(0, len(units["ids"]), _BATCH):
            self._units.upsert(
                ids=units["ids"][i : i + _BATCH], embeddings=units["embeddings"][i : i + _BATCH],
                metadatas=units["metadatas"][i : i + _BATCH],
            )
        for i in range(0, len(got["ids"]), _BATCH):
            self._chunks.upsert(
                ids=got["ids"][i : i + _BATCH],
                embeddings=got["embeddings"][i : i + _BATCH],
                documents=got["documents"][i : i + _BATCH],
                metadatas=got["metadatas"][i : i + _BATCH],
            )
        self._docs.upsert(ids=doc["ids"], embeddings=[[1.0]], documents=doc["documents"], metadatas=doc["metadatas"])

    # -- reading ----------------------------------------------------------------------------------

    def chunks(self, ids: Sequence[str] | None = None, where: dict[str, Any] | None = None) -> list[Chunk]:
        """Chunks by id (in the order asked, unknown ids left out) or by filter, or all of them."""
        if ids is not None and not ids:
            return []
        got = self._chunks.get(ids=list(ids) if ids is not None else None, where=where, include=["documents", "metadatas"])
        found = {i: _chunk(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"], strict=True)}
        if ids is not None:
            return [found[i] for i in ids if i in found]
        return sorted(found.values(), key=lambda c: (c.doc_id, c.position))

    def documents(self) -> list[DocumentInfo]:
        got = self._docs.get(include=["metadatas"])
        return sorted((_info(m) for i, m in zip(got["ids"], got["metadatas"], strict=True) if not i.startswith("~")), key=lambda d: d.id)

    def document(self, doc_id: str) -> tuple[DocumentInfo, str]:
        """A document's metadata and its cleaned text (what quotes are checked against)."""
        got = self._docs.get(ids=[doc_id], include=["metadatas", "documents"])
        if not got["ids"] or doc_id.startswith("~"):
            raise NotFound(f"no document with id '{doc_id}'")
        return _info(got["metadatas"][0]), got["documents"][0]

    def delete_document(self, doc_id: str) -> None:
        self._chunks.delete(where={"doc_id": doc_id})
        self._units.delete(where={"doc_id": doc_id})
        self._docs.delete(ids=[doc_id])


def _chunk(chunk_id: str, text: str, meta: dict[str, Any]) -> Chunk:
    return Chunk(id=chunk_id, text=text, **{k: v for k, v in meta.items() if k in _CHUNK_FIELDS})


def _info(meta: dict[str, Any]) -> DocumentInfo:
    data = dict(meta)
    data["aliases"] = json.loads(data.get("aliases") or "[]")
    return DocumentInfo(**data)


class VectorIndex:
    """All versions of the index and the pointer to the live one."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.index_dir
        self.url = settings.chroma_url
        self.prefix = settings.collection_prefix
        self._clients: dict[str, Any] = {}
        if self.url:
            from urllib.parse import urlparse

            u = urlparse(self.url if "://" in self.url else f"http://{self.url}")
            self._server = chromadb.HttpClient(
                host=u.hostname or "localhost", port=u.port or 8000, ssl=u.scheme == "https",
                settings=ChromaSettings(anonymized_telemetry=False),
            )

    # -- the pointer -------------------------------------------------------------------------------

    def current(self) -> str | None:
        """Name of the live version, or None before the first build."""
        if self.url:
            got = self._meta().get(ids=["current"], include=["metadatas"])
            return got["metadatas"][0]["version"] if got["ids"] else None
        try:
            return json.loads((self.root / "CURRENT").read_text())["version"]
        except (FileNotFoundError, ValueError, KeyError):
            return None

    def publish(self, version: IndexVersion) -> None:
        """Make `version` the live one, atomically."""
        if self.url:
            self._meta().upsert(ids=["current"], embeddings=[[1.0]], metadatas=[{"version": version.name, "at": time.time()}])
            return
        tmp = self.root / f".CURRENT.{uuid.uuid4().hex}"
        try:
            with open(tmp, "w") as fh:
                json.dump({"version": version.name, "at": time.time()}, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.root / "CURRENT")
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise IndexWriteError(f"cannot publish the index in {self.root}: {exc.strerror}") from exc

    # -- versions ----------------------------------------------------------------------------------

    def open(self, name: str | None = None) -> IndexVersion:
        """Open a version for reading (the live one by default)."""
        name = name or self.current()
        if not name:
            raise IndexNotReady("the index is empty: run `policyqa ingest` first")
        try:
            return self._version(name, create=False, signature={})
        except Exception as exc:  # chroma raises several types for a missing collection
            raise IndexNotReady(f"index version '{name}' cannot be opened: {exc}") from exc

    def create(self, signature: dict[str, Any]) -> IndexVersion:
        """A new, empty version to build into; invisible until published."""
        name = time.strftime("v%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        try:
            if not self.url:
                (self.root / "versions").mkdir(parents=True, exist_ok=True)
            return self._version(name, create=True, signature={**signature, "schema": SCHEMA})
        except OSError as exc:
            raise IndexWriteError(f"cannot write the index in {self.root}: {exc.strerror or exc}") from exc
        except Exception as exc:
            if "readonly" in str(exc).lower() or "read-only" in str(exc).lower() or "disk" in str(exc).lower():
                raise IndexWriteError(f"cannot write the index in {self.root}: {exc}") from exc
            raise

    def discard(self, name: str) -> None:
        """Delete a version that is not live (an abandoned or superseded build)."""
        if name == self.current():
            return
        self._clients.pop(name, None)
        if self.url:
            for kind in ("chunks", "docs", "units"):
                with contextlib.suppress(Exception):
                    self._server.delete_collection(f"{self.prefix}-{name}-{kind}")
        else:
            shutil.rmtree(self.root / "versions" / name, ignore_errors=True)

    def versions(self) -> list[str]:
        if self.url:
            names = {c.name if hasattr(c, "name") else str(c) for c in self._server.list_collections()}
            pre = f"{self.prefix}-"
            return sorted({n[len(pre) : -len("-chunks")] for n in names if n.startswith(pre) and n.endswith("-chunks")})
        folder = self.root / "versions"
        return sorted(p.name for p in folder.iterdir()) if folder.exists() else []

    def prune(self, keep: int = 2) -> None:
        """Remove old versions, keeping the live one and the newest `keep`."""
        live = self.current()
        for name in self.versions()[:-keep]:
            if name != live:
                self.discard(name)

    @contextlib.contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One build at a time (per index directory)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fh = open(self.root / ".lock", "a+")
        except OSError as exc:
            raise IndexWriteError(f"cannot write the index in {self.root}: {exc.strerror or exc}") from exc
        with fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _meta(self) -> Any:
        return self._server.get_or_create_collection(f"{self.prefix}-meta", embedding_function=None)

    def _version(self, name: str, create: bool, signature: dict[str, Any]) -> IndexVersion:
        client: Any
        if self.url:
            client = self._server
        else:
            client = self._clients.get(name)
            if client is None:
                path = self.root / "versions" / name
                if not create and not path.exists():
                    raise NotFound(f"index version folder {path} is missing")
                client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
                self._clients[name] = client
        base = f"{self.prefix}-{name}" if self.url else self.prefix
        if create:
            meta = {**signature, "hnsw:space": "cosine", "created": time.time()}
            chunks = client.create_collection(f"{base}-chunks", metadata=meta, embedding_function=None)
            docs = client.create_collection(f"{base}-docs", embedding_function=None)
            units = client.create_collection(f"{base}-units", metadata={"hnsw:space": "cosine"}, embedding_function=None)
        else:
            chunks = client.get_collection(f"{base}-chunks", embedding_function=None)
            docs = client.get_collection(f"{base}-docs", embedding_function=None)
            units = client.get_or_create_collection(f"{base}-units", embedding_function=None)
        return IndexVersion(name, chunks, docs, units, None if self.url else self.root)
