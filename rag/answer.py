"""Extractive answers: pick the sentences or rows that answer the question, quote them, cite them.

Deterministic and LLM-free. A sentence is eligible only if it holds the asked place and year (in
itself, its paragraph or its section) and, for a numeric question, a number of the asked kind; if no
sentence covers enough of the question, the answer abstains and shows the closest passages instead.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from rag.query import QueryInfo, defines, holds_kind
from rag.text import normalize, tokens
from rag.types import Chunk, Citation, Passage

_UNIT_SPLIT = re.compile(r"[^。！？；!?;\n]+(?:[。！？；!?;]+[”’」）)]*|(?=\n)|$)")
_ENUM = re.compile(r"^(?:[-•➤]\s*)?([一二三四五六七八九十]+)是(.{2,20})$")
_HEADING = re.compile(r"[^\d\t。，；：！？,.;:!?]{1,20}")
_RANK = re.compile(r"第[一二三四五六七八九十\d]+|首位|首个|第一")
_GENERIC = {
    "人工智能", "人工", "智能", "我国", "中国", "报告", "产业", "相关", "规定", "哪个", "哪家", "什么", "大约", "目前", "一共",
}
_FRAMING = {"至少", "最多", "最高", "最低", "上限", "下限", "具体", "主要"}  # count only where the source says them too


@dataclass
class Unit:
    """A sentence, clause or table row of a passage, with its offsets in the document."""

    passage: int
    chunk: Chunk
    text: str
    start: int
    end: int
    paragraph: str
    rank: int


@dataclass
class Draft:
    """An extractive answer before verification: sentences with the citations they carry."""

    sentences: list[tuple[str, list[Citation]]]
    abstained: bool
    coverage: float
    absent: str = ""  # what the question names that no document contains


class ExtractiveAnswerer:
    """Composes a short answer from the top passages; `idf` and `corpus` (all document texts) come from the index."""

    def __init__(self, idf: dict[str, float], corpus: str = "", threshold: float = 0.35) -> None:
        self.idf = idf
        self.corpus = normalize(corpus)
        self.threshold = threshold

    def answer(self, info: QueryInfo, passages: list[Passage], siblings: dict[str, list[Chunk]] | None = None) -> Draft:
        absent = next((t for t in info.other_titles if normalize(t) not in self.corpus), "")
        if absent:  # a 《title》 that no document is or mentions ("《生成式人工智能服务管理暂行办法》")
            return Draft([], True, 0.0, absent=f"《{absent}》" if re.search(r"[\u4e00-\u9fff]", absent) else absent)
        units = [u for i, p in enumerate(passages) for u in _units(i, p.chunk)]
        terms = self._terms(info)
        if not units or not terms:
            return Draft([], True, 0.0)
        total = sum(self.idf.get(t, 1.0) for t in terms)
        scored = []
        for u in units:
            if not self._eligible(u, info):
                continue
            cov = self._covered(u, terms) / total
            bonus = 2.0 if any(defines(u.text, t) for t in info.defined) else 1.0
            scored.append((cov * bonus * (1 + 0.15 / (1 + u.rank)), cov, u))
        scored.sort(key=lambda s: -s[0])
        # gather a list unless one sentence already holds the question's own items ("北美、欧洲和亚太分别…")
        if info.is_list and not (scored and scored[0][1] >= 0.8):
            listed = self._enumeration(info, passages, terms, total, siblings or {})
            if listed:
                return listed
        if not scored:
            return Draft([], True, 0.0)
        _, best_cov, best = scored[0]
        if best_cov < self.threshold or self._missing_key_term(info, best, terms):
            return Draft([], True, best_cov)
        if info.defined and not any(t in best.text for t in info.defined):
            return Draft([], True, best_cov)  # "如何定义“重要数据”": a sentence that never says 重要数据 defines nothing
        if info.kind == "count" and best.chunk.kind == "table" and re.search(r"一共|总共|共有|多少个|几个", info.text):
            table = self._table_total(best, siblings or {})
            if table:
                return table
        chosen = [best]
        covered = {t for t in terms if self._has(best, t)}
        for _, cov, u in scored[1:6]:
            gain = sum(self.idf.get(t, 1.0) for t in terms if t not in covered and self._has(u, t))
            corroborates = info.kind is None and u.chunk.doc_id != best.chunk.doc_id and cov >= 0.9 * best_cov
            if (gain / total >= 0.2 or corroborates) and u.text not in {c.text for c in chosen}:
                chosen.append(u)
                covered |= {t for t in terms if self._has(u, t)}
            if len(chosen) == 3:
                break
        for item in info.items:  # "基础层和技术层分别…": a sentence for each item
            if not any(item in c.text for c in chosen):
                chosen += [u for _, _, u in scored if item in u.text][:1]
        if info.kind is None and len(best.text) < 40:
            chosen += self._continuation(best, units, chosen)
        # a clause that only states a condition ("逾期不改正的，处…") keeps the clause it depends on
        chosen += [p for u in chosen if u.chunk.article and re.match(r"[^，。；]{2,20}的，", u.text)
                   for p in _before(u, units) if p not in chosen]
        chosen = list({id(u): u for u in chosen}.values())
        chosen.sort(key=lambda u: (u.rank, u.start))
        return Draft([(_say(u), [_cite(u)]) for u in chosen], False, best_cov)

    # -- scoring --------------------------------------------------------------------------------------

    def _terms(self, info: QueryInfo) -> list[str]:
        seen: list[str] = []
        for t in tokens(info.expanded):
            if info.english and re.fullmatch(r"[a-z0-9'.-]+", t):
                continue  # English words never match Chinese text; the glossary added their Chinese
            if t in info.doc_mentions:
                continue  # the document is retrieval's business; its short name ("上海数据条例") is not in the text
            if t not in seen and not re.fullmatch(r"\d+|[a-z]", t):
                seen.append(t)
        # jieba's search mode adds sub-words; keep a word only if no longer kept word contains it
        return [t for t in seen if not any(t != o and t in o and len(o) <= 6 for o in seen)] or seen

    def _has(self, u: Unit, term: str) -> bool:
        return term in u.text.lower() or term in u.chunk.context.lower()

    def _covered(self, u: Unit, terms: list[str]) -> float:
        score = 0.0
        for t in terms:
            w = self.idf.get(t, 1.0)
            if t in u.text.lower():
                score += w
            elif t in u.paragraph.lower() or t in u.chunk.context.lower():
                score += 0.6 * w
        return score

    def _eligible(self, u: Unit, info: QueryInfo) -> bool:
        if _HEADING.fullmatch(u.text):
            return False  # a heading names a topic; the sentences under it answer
        scope = u.paragraph + u.chunk.context
        if info.places and not any(p in scope for p in info.places):
            return False
        if any(f"《{t}》" not in u.chunk.text + u.chunk.context for t in info.other_titles):
            return False  # about another document ("《广东省新一代…规划》" does not answer "《新一代…规划》")
        if any(y not in scope for y in info.years):
            return False
        if info.national and re.search(r"全球|世界", u.text) and not re.search(r"我国|中国|国内|全国", u.text):
            return False  # a world figure does not answer a question about China
        if info.kind == "rank":
            return bool(_RANK.search(u.text))
        return info.kind is None or holds_kind(u.text, info.kind)

    def _missing_key_term(self, info: QueryInfo, best: Unit, terms: list[str]) -> bool:
        """Most of what is specific to the question (not places or generic words) is absent near the answer."""
        specific = [t for t in terms if t not in _GENERIC and len(t) >= 2 and not any(p in t for p in info.places)]
        if any(t not in self.idf and re.search(r"[a-z]", t) for t in specific) and not info.english:
            return True  # a Latin-script name the corpus never mentions ("GPT-4")
        scope = (best.paragraph + best.chunk.context).lower()
        specific = [t for t in specific if t in self.idf and (t not in _FRAMING or t in scope)]
        mass = sum(self.idf.get(t, 1.0) for t in specific)
        missing = sum(self.idf.get(t, 1.0) for t in specific if t not in scope)
        return mass > 0 and missing / mass > 0.6

    def _continuation(self, best: Unit, units: list[Unit], chosen: list[Unit]) -> list[Unit]:
        """A short answering sentence is followed by the rest of its paragraph (up to two sentences)."""
        after = [u for u in units if u.chunk.id == best.chunk.id and u.paragraph == best.paragraph and u.start > best.start]
        return [u for u in after[:2] if u not in chosen]

    # -- lists and tables ------------------------------------------------------------------------------

    def _enumeration(self, info: QueryInfo, passages: list[Passage], terms: list[str], total: float, siblings: dict[str, list[Chunk]]) -> Draft | None:
        """"一是…" items or a passage's sub-headings, gathered in source order."""
        for rank, p in enumerate(passages):
            items = _enum_items(p.chunk)
            if items:
                doc_chunks = siblings.get(p.chunk.doc_id, [])
                pos = {c.id: i for i, c in enumerate(doc_chunks)}
                gathered = {it[0]: it for it in items}
                i = pos.get(p.chunk.id)
                if i is not None:
                    for step in (-1, 1):
                        j = i + step
                        while 0 <= j < len(doc_chunks) and (found := _enum_items(doc_chunks[j])):
                            gathered.update({it[0]: it for it in found})
                            j += step
                ordered = sorted(gathered.values(), key=lambda it: it[1].start)
                if len(ordered) >= 2:
                    return Draft([(f"{_strip(u.text)}", [_cite(u)]) for _, u in ordered], False, 1.0)
            heads = _subheadings(rank, p.chunk) if rank == 0 else []
            topical = [t for t in terms if t not in _GENERIC and t in p.chunk.context.split(" > ")[-1]]
            if len(heads) >= 2 and topical:
                return Draft([(f"{h}：{_strip(u.text)}", [_cite(u)]) for h, u in heads], False, 1.0)
        return None

    def _table_total(self, row: Unit, siblings: dict[str, list[Chunk]]) -> Draft | None:
        """"一共有多少个" over a numbered table: the last row's number, citing that row."""
        header = row.chunk.context.split("\n")[-1] if "\n" in row.chunk.context else row.chunk.text.split("\n")[0]
        if not header.startswith("序号"):
            return None
        rows = [
            u for c in siblings.get(row.chunk.doc_id, [row.chunk])
            if c.kind == "table" and c.section == row.chunk.section for u in _units(row.passage, c)
            if re.match(r"\d+\t", u.text)
        ]
        if not rows:
            return None
        last = max(rows, key=lambda u: int(u.text.split("\t")[0]))
        n = last.text.split("\t")[0]
        return Draft([(f"共{n}个，最后为“{last.text.replace(chr(9), ' ')}”", [_cite(last)])], False, 1.0)


def _before(u: Unit, units: list[Unit]) -> list[Unit]:
    """The clause just before `u` in its paragraph, if it ends in "；" or "，"."""
    prev = [p for p in units if p.chunk.id == u.chunk.id and p.paragraph == u.paragraph and p.end <= u.start]
    return prev[-1:] if prev and prev[-1].text.endswith(("；", "，", ";")) else []


def merge_drafts(drafts: list[Draft]) -> Draft:
    """One answer from the drafts of a question's parts: every quoted sentence once, in the order found."""
    sentences: list[tuple[str, list[Citation]]] = []
    seen: set[tuple[str, int]] = set()
    for d in drafts:
        for text, cites in d.sentences if not d.abstained else []:
            key = {(c.chunk_id, c.start) for c in cites}
            if not key <= seen:
                sentences.append((text, cites))
                seen |= key
    answered = [d for d in drafts if not d.abstained]
    return Draft(sentences, not answered, max((d.coverage for d in drafts), default=0.0), drafts[0].absent)


def not_found(english: bool, absent: str = "") -> str:
    """The abstention message, naming the document the corpus lacks when that is the reason."""
    if english:
        said = f"The documents do not include {absent}." if absent else "The documents do not say."
        return said + " The closest passages are listed below for reference."
    said = f"文档中没有{absent}。" if absent else "文档中没有找到能回答这个问题的内容。"
    return said + "以下是最接近的段落，供参考。"


def idf_table(chunks: list[Chunk]) -> dict[str, float]:
    """Inverse document frequency of every search token over the chunks."""
    df: Counter[str] = Counter()
    for c in chunks:
        df.update(set(tokens(c.embed_text())))
    n = max(1, len(chunks))
    return {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}


def _units(rank: int, chunk: Chunk) -> list[Unit]:
    out = []
    for line in re.finditer(r"[^\n]+", chunk.text):
        para = line.group(0)
        pieces = [(line.start(), line.end())] if "\t" in para or len(para) <= 60 else [
            (line.start() + m.start(), line.start() + m.end()) for m in _UNIT_SPLIT.finditer(para) if m.group(0).strip()
        ]
        for a, b in pieces:
            text = re.sub(r"^[-•➤▪*]\s*", "", chunk.text[a:b].strip())
            if len(text) >= 2:
                a2 = chunk.text.index(text, a)
                out.append(Unit(rank, chunk, text, chunk.start + a2, chunk.start + a2 + len(text), para, rank))
    return out


def _enum_items(chunk: Chunk) -> list[tuple[str, Unit]]:
    items = []
    for line in re.finditer(r"[^\n]+", chunk.text):
        m = _ENUM.match(line.group(0).strip())
        if m:
            text = line.group(0).strip()
            a = chunk.text.index(text, line.start())
            items.append((m.group(1), Unit(0, chunk, text, chunk.start + a, chunk.start + a + len(text), text, 0)))
    return items


def _subheadings(rank: int, chunk: Chunk) -> list[tuple[str, Unit]]:
    """Short heading lines inside a passage, each with the first sentence under it."""
    paras = [(m.start(), m.group(0)) for m in re.finditer(r"[^\n]+", chunk.text)]
    out = []
    for i, (_start, para) in enumerate(paras[:-1]):
        if 2 <= len(para) <= 6 and not re.search(r"[。，；：:,]", para) and i > 0:
            nxt_start, nxt = paras[i + 1]
            first = _UNIT_SPLIT.match(nxt)
            text = first.group(0).strip() if first else nxt
            out.append((para, Unit(rank, chunk, text, chunk.start + nxt_start, chunk.start + nxt_start + len(text), nxt, rank)))
    return out if len(out) >= 2 and all(len(u.paragraph) > len(h) * 3 for h, u in out) else []


def _say(u: Unit) -> str:
    """How a unit reads in the answer: an article's sentence names its law and article."""
    if not u.chunk.article:
        return _strip(u.text)
    title = re.match(r"《[^》]+》", u.chunk.context)
    body = re.sub(r"^第[零〇一二三四五六七八九十百千\d]+条\s*", "", u.text)
    return f"{title.group(0) if title else ''}{u.chunk.article}规定：{body}"


def _strip(text: str) -> str:
    return re.sub(r"^[-•➤▪*]\s*", "", text).strip()


def _cite(u: Unit) -> Citation:
    return Citation(
        n=0, chunk_id=u.chunk.id, document_id=u.chunk.doc_id, title="", quote=u.text, text=u.chunk.text,
        page=u.chunk.page or None, section=u.chunk.place(), start=u.start, end=u.end,
    )
