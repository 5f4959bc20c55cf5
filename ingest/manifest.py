"""Document metadata: from corpus/manifest.json, or guessed from the document's own text."""

from __future__ import annotations

import json
import re
from pathlib import Path

from rag.errors import InvalidInput
from rag.types import DocType, DocumentInfo

MANIFEST = "manifest.json"
_DATE = r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日"


def read_manifest(corpus_dir: Path) -> dict[str, DocumentInfo]:
    """Manifest entries keyed by file path relative to the corpus directory."""
    path = corpus_dir / MANIFEST
    if not path.exists():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))["documents"]
        return {e["file"]: DocumentInfo(path=e["file"], **{k: v for k, v in e.items() if k != "file"}) for e in entries}
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"{path}: invalid manifest ({exc})") from exc


def slug(name: str) -> str:
    """A document id from a file name: lower-case ASCII words, CJK kept."""
    return re.sub(r"[^\w\u4e00-\u9fff]+", "-", name.lower()).strip("-") or "document"


def guess_info(rel_path: str, text: str) -> DocumentInfo:
    """Metadata for a document without a manifest entry: title line, dates, type and level."""
    first = next((ln.strip("# ").strip() for ln in text.splitlines() if ln.strip()), "")
    title = first if 2 <= len(first) <= 60 else Path(rel_path).stem
    adopted = _iso(re.search(_DATE + r"[^。\n]{0,40}(通过|发布|公布|印发)", text))
    in_force = _iso(re.search(r"自" + _DATE + r"起施行", text))
    kind: DocType
    if title.endswith("法"):
        kind = "law"
    elif title.endswith("条例"):
        kind = "regulation"
    elif re.search(r"(规定|办法|细则|规则)$", title):
        kind = "rules"
    elif "报告" in title:
        kind = "report"
    else:
        kind = "other"
    if title.startswith("中华人民共和国") or title.startswith("国务院"):
        level = "national"
    elif re.search(r"(省|自治区)", title[:8]):
        level = "provincial"
    elif re.search(r"(市|经济特区)", title[:10]):
        level = "city"
    else:
        level = ""
    aliases = [title.removeprefix("中华人民共和国")] if title.startswith("中华人民共和国") else []
    return DocumentInfo(
        id=slug(Path(rel_path).stem), title=title, type=kind, adopted=adopted, in_force=in_force,
        level=level, aliases=aliases, path=rel_path,
    )


def _iso(m: re.Match[str] | None) -> str:
    return f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}" if m else ""
