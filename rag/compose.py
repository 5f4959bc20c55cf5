"""Composing an answer from ranked evidence, following the documents' structure:

- a heading brings the body under it; a sentence that introduces a list ("…下列职责：") brings its items;
- a table row comes with its header and is shown as a small table;
- each ask gets its own sentence; a comparison quotes both figures and says which is larger only then;
- open questions (概括, 介绍, 有哪些, summarize) get 3–6 cited sentences from the best section.

Quotes are units, so always verbatim document text; section labels and table headers travel as structured
citation fields, never inside a quote.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from rag.choose import (
    about_a_chapter,
    about_focus,
    heaviest_section,
    runner_up_opening_a_list,
    section_key,
    within,
)
from rag.evidence import Evidence, Verdict
from rag.question import Ask, Reading
from rag.retrieve import UnitIndex
from rag.tables import as_table, rows_dated_alike, table_total
from rag.text import numbers, tokens
from rag.types import Chunk, Citation, Unit
from rag.units import header_of, plain, table_header

OPEN_MIN, OPEN_MAX = 3, 6
LIST_MAX = 10
_ENUMERATED = re.compile(r"^(?:[一二三四五六七八九十]+[是、]|[（(][一二三四五六七八九十\d]+[）)]|\d+[.、])")
_INLINE_LABEL = re.compile(r"^[^，。；：:]{2,8}[：:]")  # "人才优势：…": a sentence that opens with its own label
_ARTICLE_LABEL = re.compile(r"^第[零〇一二三四五六七八九十百千\d]+条\s*")


@dataclass
class Draft:
    """An answer before numbering and verification: sentences with the units they quote."""

    sentences: list[tuple[str, list[tuple[Unit, Chunk]]]] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)  # asks the documents do not answer

    @property
    def abstained(self) -> bool:
        return not self.sentences


class Composer:
    """Turns each ask's ranked evidence into sentences."""

    def __init__(self, units: UnitIndex, titles: dict[str, str]) -> None:
        self.units = units
        self.titles = titles
        # headings are matched in their plain form: computed once per index version, not per question
        self.plain_context = {cid: plain(ch.context) for cid, ch in units.chunk_of.items()}

    def compose(self, reading: Reading, found: list[tuple[Ask, list[Evidence], Verdict]]) -> Draft:
        draft = Draft()
        answered: list[tuple[Ask, Evidence]] = []
        for ask, ranked, verdict in found:
            if not verdict.ok:
                draft.unanswered.append(ask.focus or ask.text)
                continue
            best = about_focus(ask, ranked)
            if not ask.kind and (body := self.units.under(ask.quoted, ask.doc_ids)):
                self._add(draft, body[:OPEN_MAX])  # the question quotes a heading: its body answers
            elif ask.section and not ask.kind and reading.intent != "define" and (
                under := self._under(ask.section, docs=ask.doc_ids, chapters=about_a_chapter(reading, ranked), ranked=ranked)
            ):
                self._add_sections(draft, under)  # the question names a heading: answer with its section's body
            elif ask.kind == "count" and (total := table_total(self.units, best)):
                draft.sentences.append(total)
            elif reading.intent in ("open", "list") and len(found) == 1 and (rows := rows_dated_alike(self.units, best, ask)):
                draft.sentences.append((as_table(table_header(rows[0][1]), *(u.text for u, _ in rows)), rows))
            elif reading.intent in ("open", "list") and len(found) == 1:
                best = runner_up_opening_a_list(heaviest_section(best, ranked) if reading.intent == "open" else best, ranked)
                under = self._under(best.unit.text) if best.unit.kind == "heading" else self._under(self._shared_part(ranked), listed_only=True)
                if under:
                    self._add_sections(draft, under)
                else:
                    self._add(draft, self._section(best, ranked, reading.intent, set(ask.terms)), labelled=True)
            else:
                self._add(draft, self._expand(best.unit) + [x for c in self._corroborating(best, ranked) for x in [c, *self._sentence_rest(c)]])
            answered.append((ask, best))
        if reading.compare and len(answered) == 2:
            self._comparison(draft, answered)
        return draft

    # -- what each ask brings ----------------------------------------------------------------------

    def _expand(self, u: Unit) -> list[Unit]:
        """The best unit and what its structure says belongs with it."""
        after = self._following(u)
        if u.kind in ("heading", "header"):
            return [u] + [x for x in after if x.kind not in ("heading",)][:4] if after else [u]
        if u.kind == "intro":
            items: list[Unit] = []
            for x in after:
                if x.kind == "heading" or (items and x.kind not in ("item", "sentence")):
                    break
                items.append(x)
            i = self.units.by_id[u.id]
            prev = self.units.units[i - 1] if i else None
            # "有下列情形之一的，…应当主动删除个人信息；…有权请求删除：": the clause before the "；" opens the same sentence
            lead = [prev] if prev and prev.chunk_id == u.chunk_id and prev.para == u.para and prev.text.endswith("；") else []
            return lead + [u] + items[:LIST_MAX]
        chunk = self.units.chunk_of[u.chunk_id]
        if chunk.article:
            whole = self._article(chunk)
            if len(whole) <= 3 and sum(len(x.text) for x in whole) <= 240:
                return whole  # a short article is quoted whole: its conditions come with it
            before = [x for x in whole if x.start < u.start]
            # "逾期不改正的，处…" keeps the clause it depends on
            lead = [before[-1]] if before and re.match(r"[^，。；]{2,20}的，", u.text) else []
            rest = self._sentence_rest(u)
            if lead or rest:
                return lead + [u] + rest
        if len(u.text) < 25 and after and after[0].kind == "sentence" and after[0].para == u.para:
            return [u, after[0]]
        return [u]

    def _sentence_rest(self, u: Unit) -> list[Unit]:
        """An article's clause ending in "；" ("…责令改正，给予警告；") is not a whole sentence: up to two clauses that
        finish it ("拒不改正的，处…罚款。")."""
        if not self.units.chunk_of[u.chunk_id].article:
            return []
        return [self.units.units[j] for j in self.units.rest[self.units.by_id[u.id]]]

    def _corroborating(self, best: Evidence, ranked: list[Evidence], margin: float = 1.5) -> list[Unit]:
        """Up to two close runners-up that say something the best does not (a second figure, the other half of
        an answer, the same fact in another passage): a wrong best is then not the only thing shown."""
        out: list[Unit] = []
        for e in ranked[1:6]:
            if len(out) == 2 or e.score < best.score - margin:
                break
            if e.unit.kind in ("heading", "header") or e.unit.id == best.unit.id:
                continue
            if any(_similar(e.unit.text, u.text) for u in [best.unit, *out]):
                continue
            out.append(e.unit)
        return out

    def _section(self, best: Evidence, ranked: list[Evidence], intent: str, asked: set[str]) -> list[Unit]:
        """3–6 units of the best section: its body under a heading, a list's items, or its best sentences."""
        structural = self._expand(self._list_opening(best.unit))
        if len(structural) >= OPEN_MIN or intent == "list" and len(structural) > 1:
            return structural[:LIST_MAX]
        key = section_key(self.units.chunk_of[best.unit.chunk_id])
        scored = [e for e in ranked if within(e.chunk, key) and e.unit.kind not in ("heading", "header")]
        chosen = {u.id: u for u in structural}
        # a summary spans the section's sub-points: first the best unit of each sub-point, then the rest; when the
        # question names sub-points ("创新平台和发展格局"), those alone, each with all it says
        sub = self._sub_points(key, ranked)
        named = {label: u for label, u in sub.items() if set(tokens(label)) <= asked}
        chosen.update((u.id, u) for u in list((named or sub).values())[: OPEN_MAX - len(chosen)])
        close = [e for e in scored if e.score >= best.score - 4.0]
        labels = {self._label(u) for u in chosen.values()}
        for spread in (False,) if named else (True, False):
            for e in close:
                if len(chosen) >= OPEN_MAX:
                    break
                label = self._label(e.unit)
                if (spread and label in labels - {""}) or (named and label not in named) or any(_similar(e.unit.text, c.text) for c in chosen.values()):
                    continue
                chosen[e.unit.id] = e.unit
                labels.add(label)
        if len(chosen) < OPEN_MIN:  # fill from what follows the best unit in its section
            for x in self._following(best.unit):
                if len(chosen) >= OPEN_MIN:
                    break
                if x.kind != "heading":
                    chosen.setdefault(x.id, x)
        return sorted(chosen.values(), key=lambda x: (x.doc_id, x.start))

    def _list_opening(self, u: Unit) -> Unit:
        """Where the list a unit belongs to starts, for a question that asks for several things: an item's
        introducing sentence ("…下列情形之一的："), or the sentence of the unit's article that opens a list."""
        chunk = self.units.chunk_of[u.chunk_id]
        if u.kind == "item":
            i = self.units.by_id[u.id]
            # back over the items, and over clauses ending in "；" (an item whose enumerator the text lost)
            while i > 0 and self.units.units[i].chunk_id == u.chunk_id and (
                self.units.units[i].kind == "item" or self.units.units[i].text.endswith("；")
            ):
                i -= 1
            opening = self.units.units[i]
            return opening if opening.kind == "intro" and opening.doc_id == u.doc_id else u
        if u.kind == "sentence" and chunk.article:
            intros = [x for x in self._article(chunk) if x.kind == "intro"]
            if intros:
                return min(intros, key=lambda x: abs(x.start - u.start))
        return u

    def _under(
        self, heading: str, listed_only: bool = False, docs: list[str] | None = None, chapters: bool = False,
        ranked: list[Evidence] | None = None,
    ) -> list[tuple[str, list[Unit]]]:
        """What a heading stands over, wherever it is written (in the contents or above its section): the body of
        its section, or, when it heads several sections, each one's heading and first sentence ("一是…", "二是…").
        A law's chapter stands over its articles, for a question about the chapter as a whole only (`chapters`):
        each article's best candidate (its opening sentence if it has none), the best-scored articles when there
        are more than an answer holds. A fact question about a chapter is answered by the evidence instead."""
        key = plain(heading)
        if len(key) < 2:
            return []
        chunks = [c for c in self.units.chunk_of.values() if key in self.plain_context[c.id] and (not docs or c.doc_id in docs)]
        if not chunks:
            return []
        chunks = [c for c in chunks if c.doc_id == chunks[0].doc_id]
        if chunks[0].article:
            if not chapters:
                return []
            articles: dict[str, list[Unit]] = {}
            for c in chunks:
                articles.setdefault(c.article, []).extend(self.units.units[i] for i in self.units.positions.get(c.id, []))
            score = {e.unit.id: e.score for e in ranked or []}
            best = [max(v, key=lambda u: score.get(u.id, -math.inf)) for v in articles.values() if v]
            chosen = sorted(best, key=lambda u: -score.get(u.id, -math.inf))[:OPEN_MAX]
            return [("", sorted(chosen, key=lambda u: self.units.by_id[u.id]))]
        sections: dict[str, list[Unit]] = {}
        for c in chunks:
            body = [self.units.units[i] for i in self.units.positions.get(c.id, [])]
            sections.setdefault(c.section, []).extend(u for u in body if u.kind not in ("heading", "header"))
        sections = {k: v for k, v in sections.items() if v}
        if len(sections) == 1 or key in {plain(k.split(" > ")[-1]) for k in sections}:
            own = next((v for k, v in sections.items() if plain(k.split(" > ")[-1]) == key), next(iter(sections.values()), []))
            return [("", self._spread(own))]
        listed = [(k, v) for k, v in sections.items() if _ENUMERATED.match(k.split(" > ")[-1])]
        if listed_only and len(listed) < 2:
            return []
        return [(k.split(" > ")[-1], v[:1]) for k, v in (listed if len(listed) >= 2 else list(sections.items()))[:OPEN_MAX]]

    def _shared_part(self, ranked: list[Evidence], top: int = 5) -> str:
        """The heading that several of the best candidates sit under in different sub-sections ("…策略与建议"
        over "一是…", "二是…"): a list question is answered by that heading's sections, not by one of them, unless
        the two best sit in the same one (the question is about that sub-section)."""
        if len(ranked) >= 2 and ranked[0].chunk.section and ranked[0].chunk.section == ranked[1].chunk.section:
            return ""
        parts: dict[str, set[str]] = {}
        for e in ranked[:top]:
            if e.chunk.part:
                parts.setdefault(e.chunk.part, set()).add(e.chunk.section)
        shared = [p for p, sections in parts.items() if len(sections) >= 2]
        return max(shared, key=lambda p: len(parts[p])) if shared else ""

    def _add_sections(self, draft: Draft, under: list[tuple[str, list[Unit]]]) -> None:
        for label, units in under:
            before = len(draft.sentences)
            self._add(draft, units, labelled=not label)  # one section's body: its sub-points say their labels
            if label and len(draft.sentences) > before:  # the label names where the quote sits; it is not quoted
                text, cites = draft.sentences[before]
                draft.sentences[before] = (f"{label}：{text}", cites)

    def _following(self, u: Unit, limit: int = 12) -> list[Unit]:
        """Units after `u` in document order, within its section (or article)."""
        chunk = self.units.chunk_of[u.chunk_id]
        key = section_key(chunk)
        out: list[Unit] = []
        i = self.units.by_id[u.id] + 1
        while i < len(self.units.units) and len(out) < limit:
            x = self.units.units[i]
            c = self.units.chunk_of[x.chunk_id]
            if not within(c, key):
                break
            out.append(x)
            i += 1
        return out

    def _article(self, chunk: Chunk) -> list[Unit]:
        ids = [c.id for c in self.units.chunk_of.values() if c.doc_id == chunk.doc_id and c.article == chunk.article and c.article]
        return sorted((self.units.units[i] for cid in ids for i in self.units.positions.get(cid, [])), key=lambda x: x.start)

    # -- sentences ---------------------------------------------------------------------------------

    def _add(self, draft: Draft, chosen: list[Unit], labelled: bool = False) -> None:
        """One sentence per unit; `labelled` puts the sub-heading a sentence sits under before it ("算法：…")."""
        quoted = {u.id for _, cites in draft.sentences for u, _ in cites}
        said_article = ""
        for u in chosen:
            if u.id in quoted:
                continue
            quoted.add(u.id)
            chunk = self.units.chunk_of[u.chunk_id]
            label = self._subheading(u) if labelled and not _INLINE_LABEL.match(u.text) else ""
            if label:
                draft.sentences.append((f"{label}：{u.text}", [(u, chunk)]))
                continue
            if u.kind == "row":
                draft.sentences.append((as_table(table_header(chunk), u.text), [(u, chunk)]))
                continue
            if u.kind == "cell":  # the column header is a label, not part of the quote
                draft.sentences.append((f"{header_of(u, chunk)}：{u.text}", [(u, chunk)]))
                continue
            text = u.text
            if chunk.article:
                body = _ARTICLE_LABEL.sub("", text)
                text = body if said_article == chunk.article else f"《{self.titles.get(chunk.doc_id, chunk.doc_id)}》{chunk.article}规定：{body}"
                said_article = chunk.article
            draft.sentences.append((text, [(u, chunk)]))

    def _sub_points(self, key: tuple[str, str], ranked: list[Evidence]) -> dict[str, Unit]:
        """The best unit of each labelled sub-point of a section ("人口红利：…", the sentences under "链条完整"),
        best first, when the section has two or more; a sub-point no candidate reached gives its first unit."""
        score = {e.unit.id: e.score for e in ranked}
        best: dict[str, Unit] = {}
        for c in self.units.chunk_of.values():
            if not within(c, key):
                continue
            for u in (self.units.units[i] for i in self.units.positions.get(c.id, [])):
                label = self._label(u) if u.kind not in ("heading", "header") else ""
                if label and (label not in best or score.get(u.id, -math.inf) > score.get(best[label].id, -math.inf)):
                    best[label] = u
        if len(best) < 2:
            return {}
        return dict(sorted(best.items(), key=lambda kv: -score.get(kv[1].id, -math.inf)))

    def _spread(self, body: list[Unit]) -> list[Unit]:
        """At most OPEN_MAX units of a section's body in document order; when it has labelled sub-points, the
        first unit of each comes before a second unit of any."""
        firsts: dict[str, Unit] = {}
        for u in body:
            firsts.setdefault(self._label(u), u)
        chosen = list(firsts.values())[:OPEN_MAX]
        chosen += [u for u in body if u not in chosen][: OPEN_MAX - len(chosen)]
        return sorted(chosen, key=lambda u: self.units.by_id[u.id])

    def _label(self, u: Unit) -> str:
        """The sub-point a unit belongs to: its own opening label or that of the sentence of its paragraph it
        continues ("联合创新：鼓励…。组织开展…"), else the sub-heading above it."""
        i = self.units.by_id[u.id]
        while i >= 0 and (x := self.units.units[i]).chunk_id == u.chunk_id and x.para == u.para:
            if m := _INLINE_LABEL.match(x.text):
                return m.group(0)[:-1]
            i -= 1
        return self._subheading(u)

    def _subheading(self, u: Unit) -> str:
        """The heading line just above a unit inside its chunk (not the chunk's own section title)."""
        above = self.units.above[self.units.by_id[u.id]]
        return "" if plain(above) == plain(self.units.chunk_of[u.chunk_id].section.split(" > ")[-1]) else above

    def _comparison(self, draft: Draft, answered: list[tuple[Ask, Evidence]]) -> None:
        """Which of two quoted figures is larger, said only when both carry the same unit."""
        figures = []
        for ask, e in answered:
            found = [n for n in numbers(e.unit.text) if not re.fullmatch(r"\d{4}年?", n)]
            if not found:
                return
            figures.append((ask.focus or "", found[0], e))
        (a, x, ea), (b, y, eb) = figures
        ux, uy = re.sub(r"[\d.]+", "", x), re.sub(r"[\d.]+", "", y)
        if not a or not b or ux != uy:
            return
        vx, vy = float(re.match(r"[\d.]+", x).group(0)), float(re.match(r"[\d.]+", y).group(0))  # type: ignore[union-attr]
        if vx == vy:
            sentence = f"{a}（{x}）与{b}（{y}）相同"
        else:
            (hi, hv), (lo, lv) = ((a, x), (b, y)) if vx > vy else ((b, y), (a, x))
            sentence = f"{hi}（{hv}）高于{lo}（{lv}）"
        draft.sentences.append((sentence, [(ea.unit, ea.chunk), (eb.unit, eb.chunk)]))


def citation(u: Unit, chunk: Chunk, n: int, title: str) -> Citation:
    return Citation(
        n=n, chunk_id=chunk.id, document_id=chunk.doc_id, title=title, quote=u.text, text=chunk.text,
        page=chunk.page or None, section=chunk.place(), start=u.start, end=u.end, header=header_of(u, chunk),
    )


def _similar(a: str, b: str) -> bool:
    short, long = sorted((a, b), key=len)
    return short in long or len(set(short) & set(long)) / max(1, len(set(short))) > 0.9
