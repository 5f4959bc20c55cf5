"""Evidence scoring: every candidate unit (sentence, list item, table row) gets a few general features and a
logistic score whose weights are fitted on the public question sets (`policyqa fit`) and stored as data in
`rag/data/weights.json`. A second small model turns the best candidates into a confidence that decides
whether to answer at all; it comes with checks that the asked year, edition and place are in the evidence.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

import numpy as np

from rag.kinds import holds_kind
from rag.lexicon import dictionary_tag, function_words
from rag.question import ARTICLE, ASKS, Ask
from rag.retrieve import UnitIndex
from rag.text import YEAR, cut, int_to_cn, month_day, tokens
from rag.types import Chunk, Passage, Unit
from rag.units import plain

WEIGHTS = Path(__file__).resolve().parent / "data" / "weights.json"
FEATURES = (
    "dense", "dense_gap", "bm25", "passage", "cover", "cover_context", "year", "place", "ordinal", "kind",
    "scope", "doc", "article", "heading", "length", "superlative", "defines", "section", "novel", "question",
    "focus",
)
CONFIDENCE = ("top", "margin", "dense", "constraints", "key_cover", "key_local", "novel", "agree", "structural")
POOL = 40  # units taken from each ranking (dense, BM25) besides those of the top passages
_SUPERLATIVE = re.compile(r"最|首位|第一|之首|居首|领先|排名前|首个|首家|首部|首次")
_WORLD = re.compile(r"全球|世界")
_CHINA = re.compile(r"我国|中国|国内|全国")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_BETWEEN = {"这届", "本届", "该届", "那届", "上届", "届", "的"}  # between an edition's name and its event
_MODEL = re.compile(r"([A-Za-z][A-Za-z-]*)\s?(\d+(?:\.\d+)?)(?![\d.])")  # "SE 3", "iPhone 14", "GPT-4"; named if capitalised


@dataclass
class Model:
    """A standardised logistic model: features → probability."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float = 0.5

    def logit(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def to_dict(self) -> dict[str, object]:
        return {
            "features": list(self.features), "mean": _r(self.mean), "scale": _r(self.scale), "coef": _r(self.coef),
            "intercept": round(self.intercept, 4), "threshold": round(self.threshold, 4),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Model:  # type: ignore[type-arg]
        return cls(tuple(d["features"]), np.array(d["mean"]), np.array(d["scale"]), np.array(d["coef"]),
                   float(d["intercept"]), float(d.get("threshold", 0.5)))


@lru_cache(maxsize=4)
def load_models(path: Path = WEIGHTS) -> tuple[Model, Model]:
    data = json.loads(path.read_text(encoding="utf-8"))
    evidence, confidence = Model.from_dict(data["evidence"]), Model.from_dict(data["confidence"])
    if evidence.features != FEATURES or confidence.features != CONFIDENCE:
        raise ValueError(f"{path} was fitted on other features; run `policyqa fit`")
    return evidence, confidence


@dataclass
class Evidence:
    """A candidate unit with its features and score."""

    unit: Unit
    chunk: Chunk
    x: np.ndarray
    score: float = 0.0
    dense_rank: int = 0
    sparse_rank: int = 0


@dataclass
class Verdict:
    """Whether an ask can be answered from its best evidence, and why not."""

    confidence: float
    ok: bool
    missing: list[str]  # asked constraints the evidence lacks ("2023", "第二届")


class EvidenceScorer:
    """Ranks candidate units for an ask and decides whether the best of them answers it."""

    def __init__(
        self, units: UnitIndex, idf: dict[str, float], texts: dict[str, str], titles: dict[str, str],
        models: tuple[Model, Model] | None = None, names: dict[str, list[str]] | None = None,
    ) -> None:
        self.units = units
        self.names = names or {}  # each document's title and aliases
        self._citing: dict[str, set[str]] = {}  # document id → the chunks that name it, found on first use
        self.idf = idf
        self.texts = texts
        self.titles = titles  # a local regulation's title names the place every sentence of it is about, as a
        # section's title ("代表城市及区域分析 > 深圳") does for every sentence under it
        self.model, self.confidence_model = models or load_models()
        values = sorted(idf.values())
        # terms rarer than most: what a question names (an event, an edition, a person) rather than asks
        self.key_idf = values[len(values) // 2] if values else 0.0

    def candidates(self, ask: Ask, vector: np.ndarray, passages: list[Passage], allowed: set[str] | None = None) -> list[Evidence]:
        """Candidate units, best first, each with its feature vector and score."""
        units = self.units
        if not units.units:
            return []
        asked = tokens(ask.text)
        dense = units.dense(vector)
        sparse = units.sparse(asked)
        pool = set(np.argsort(-dense)[:POOL].tolist()) | set(np.argsort(-sparse)[:POOL].tolist())
        passage_rank = {p.chunk.id: r for r, p in enumerate(passages)}
        for p in passages:
            pool |= set(units.positions.get(p.chunk.id, []))
        if allowed is not None:
            pool = {i for i in pool if units.units[i].chunk_id in allowed}
        if ask.doc_ids:  # what a named law says is not another law's rule; another document answers where it cites it
            citing = set().union(*(self.citing(d) for d in ask.doc_ids))
            pool = {i for i in pool if units.units[i].doc_id in ask.doc_ids or units.units[i].chunk_id in citing}
        if not pool:
            return []
        dense_order = {i: r for r, i in enumerate(sorted(pool, key=lambda i: -dense[i]))}
        sparse_order = {i: r for r, i in enumerate(sorted(pool, key=lambda i: -sparse[i]))}
        top_dense, top_sparse = float(dense.max()), float(sparse.max()) or 1.0
        # a word no unit uses ("点头", "砸钱": the asker's, not the documents') can be covered by no candidate: it
        # tells them apart by nothing and only lowers every cover, so it is left out of the mass
        weights = {t: self.idf[t] for t in ask.terms if t in self.idf}
        mass = sum(weights.values()) or 1.0
        asked_set = set(asked)
        out = []
        for i in pool:
            u = units.units[i]
            c = units.chunk_of[u.chunk_id]
            novel = min(3, len(set(units.tokens[i]) - asked_set)) / 3
            x = self._features(
                ask, u, c, float(dense[i]), top_dense, float(sparse[i]) / top_sparse, passage_rank.get(c.id), weights, mass, novel,
                units.extent[i], units.above[i], "".join(units.units[j].text for j in units.rest[i]) if ask.kind else "",
            )
            out.append(Evidence(u, c, x, dense_rank=dense_order[i], sparse_rank=sparse_order[i]))
        scores = self.model.logit(np.stack([e.x for e in out]))
        for e, s in zip(out, scores, strict=True):
            e.score = float(s)
        out.sort(key=lambda e: -e.score)
        return out

    def citing(self, doc_id: str) -> set[str]:
        """The chunks that name a document by its title or an alias (computed once per document)."""
        if doc_id not in self._citing:
            names = self.names.get(doc_id, [])
            self._citing[doc_id] = {c.id for c in self.units.chunk_of.values() if any(n in c.text for n in names)}
        return self._citing[doc_id]

    def _features(
        self, ask: Ask, u: Unit, c: Chunk, dense: float, top_dense: float, bm25: float, rank: int | None,
        weights: dict[str, float], mass: float, novel: float, extent: int, above: str, rest: str,
    ) -> np.ndarray:
        text = u.text.lower()
        around = (c.context + "\n" + c.text).lower()
        doc = self.texts.get(c.doc_id, "")
        cover = sum(w for t, w in weights.items() if t in text) / mass
        cover_context = sum(w for t, w in weights.items() if t not in text and t in around) / mass
        scope = 0.0
        if ask.scope == "china":
            scope = -1.0 if _WORLD.search(u.text) and not _CHINA.search(u.text) else 1.0 if _CHINA.search(around) else 0.0
        elif ask.scope == "world":
            scope = -1.0 if _CHINA.search(u.text) and not _WORLD.search(u.text) else 1.0 if _WORLD.search(around) else 0.0
        return np.array([
            dense, dense - top_dense, bm25, 1.0 / (1 + rank) if rank is not None else 0.0, cover, cover_context,
            _held(ask.years, u.text, around, doc),
            _held([place_stem(p) for p in ask.places], f"{self.titles.get(c.doc_id, '')}\n{c.section}\n{above}\n{u.text}", around, doc, any),
            _held(ask.ordinals, u.text, around, doc),
            _kind(ask, u.text, rest),
            scope,
            0.0 if not ask.doc_ids else 1.0 if c.doc_id in ask.doc_ids else -1.0,
            _article(ask, c),
            1.0 if u.kind in ("heading", "header") else 0.0,
            math.log1p(extent) / 5,  # what quoting it brings: a sentence opening a list brings the list
            0.0 if not ask.superlative else 1.0 if _SUPERLATIVE.search(u.text) else -1.0,
            0.0 if not ask.defines else 1.0 if defines(u.text, ask.defines) else -1.0,
            0.0 if not ask.section else 1.0 if plain(ask.section) in plain(f"{c.context} {above}") else -1.0,
            novel,  # the share of the unit's words the question does not already say
            1.0 if u.text.rstrip("”」）)").endswith(("？", "?")) else 0.0,  # a question is not an answer
            0.0 if not ask.focus else 1.0 if says_item(ask.focus, text) else 0.5 if says_item(ask.focus, around) else -1.0,
        ])

    # -- answer or abstain ----------------------------------------------------------------------------

    def confidence_features(self, ask: Ask, ranked: list[Evidence]) -> np.ndarray:
        best = ranked[0]
        second = ranked[1].score if len(ranked) > 1 else best.score - 5
        asked = (("year", ask.years), ("place", ask.places), ("ordinal", ask.ordinals), ("kind", ask.kind), ("defines", ask.defines))
        held = [best.x[FEATURES.index(f)] for f, wanted in asked if wanted]
        doc = self.texts.get(best.chunk.doc_id, "").lower()
        local = (best.chunk.context + best.chunk.text).lower()
        key = [t for t in ask.terms if self.idf.get(t, 0.0) >= self.key_idf]
        mass = sum(self.idf[t] for t in key)
        key_cover = sum(self.idf[t] for t in key if t in doc) / mass if key else 1.0
        key_local = sum(self.idf[t] for t in key if t in local) / mass if key else 1.0
        agree = (best.dense_rank < 5) + (best.sparse_rank < 5)
        # an English question's cosine to Chinese text is not on the scale the model was fitted on (Chinese
        # questions only): it counts as unknown, the fitted mean, rather than as low
        dense = self.confidence_model.mean[CONFIDENCE.index("dense")] if ask.english else best.x[0]
        return np.array([
            best.score, best.score - second, dense, min(held, default=1.0), key_cover, key_local,
            best.x[FEATURES.index("novel")], agree / 2,
            1.0 if best.unit.kind in ("heading", "intro") else 0.0,  # what answers is the body or list it opens
        ])

    def verdict(self, ask: Ask, ranked: list[Evidence]) -> Verdict:
        if not ranked:
            return Verdict(0.0, False, [])
        best = ranked[0]
        scope = month_day(best.chunk.context + best.chunk.text)
        missing = [x for x in ask.years + ask.ordinals if x not in scope]
        # what another document says is answered where it is named, not by a longer title that contains it
        missing += [f"《{t}》" for t in ask.cited if not re.search(rf"(?<![\u4e00-\u9fff]){re.escape(t)}", scope)]
        if best.x[FEATURES.index("scope")] < 0:
            missing.append("全球" if ask.scope == "world" else "我国")  # a world figure for China, or the reverse
        missing += [p for p in ask.places if place_stem(p) not in scope]  # "韩国在卡塔尔…": each place pins it
        missing += other_edition(ask.text, best.unit.text)
        if ask.articles and ask.doc_ids and not _article(ask, best.chunk):
            missing += [m.group(0) for m in ARTICLE.finditer(ask.text)] or [f"第{n}条" for n in ask.articles]
        p = float(1 / (1 + np.exp(-self.confidence_model.logit(self.confidence_features(ask, ranked)))))
        # a heading the question quotes ("报告如何描述“高集中”？") is answered by its body, whatever the scores say
        named = not ask.kind and bool(self.units.under(ask.quoted, ask.doc_ids))
        return Verdict(p, (p >= self.confidence_model.threshold or named) and not missing, missing)


def other_edition(question: str, sentence: str) -> list[str]:
    """How the question names an event that the sentence names otherwise: "北京冬奥会" asked, "平昌冬奥会" said;
    "卡塔尔世界杯" asked, "2002年这届世界杯" said; "SE 3" asked, "SE2" said. A sentence that ties the asked event
    to another place, year or model number is about that one, whatever its passage says around it."""
    asked, said = _dated(cut(question)), _dated(cut(sentence))
    low = unicodedata.normalize("NFKC", sentence).lower()
    out = []
    for name, head in pairwise(asked):
        if place_stem(name.rstrip("年")) in low or not _names(name) or not _is_head(head):
            continue
        for j in (j for j, w in enumerate(said) if w == head):
            k = j - 1
            while k >= 0 and said[k] in _BETWEEN:
                k -= 1
            if k >= 0 and (YEAR.fullmatch(said[k]) or (_HAN.search(said[k]) and dictionary_tag(said[k]) in ("ns", "nr"))):
                out.append(name + head)
                break
    models = set(_MODEL.findall(low))
    asked_models = [(n.lower(), v) for n, v in _MODEL.findall(unicodedata.normalize("NFKC", question)) if re.search("[A-Z]", n)]
    out += [f"{n} {v}" for n, v in asked_models if (n, v) not in models and any(m == n for m, _ in models)]
    return out


def _dated(words: list[str]) -> list[str]:
    """jieba's words with a year written whole ("2018", "年" → "2018年")."""
    out: list[str] = []
    for w in words:
        if w == "年" and out and YEAR.fullmatch(out[-1] + w):
            out[-1] += w
        else:
            out.append(w)
    return out


def _content(word: str) -> bool:
    return len(word) >= 2 and bool(_HAN.search(word)) and word not in function_words()


def _names(word: str) -> bool:
    """A year, or a word naming something (a place, a person, an organisation, an abbreviation, a word jieba's
    dictionary does not know): what tells one edition of an event from another."""
    if YEAR.fullmatch(word):
        return True
    return _content(word) and dictionary_tag(word) in ("ns", "nr", "nz", "nt", "j", "") and not ASKS.search(word)


def _is_head(word: str) -> bool:
    """A noun that an edition's name can qualify (冬奥会, 世界杯, 羽毛球), not a verb it does something with."""
    tag = dictionary_tag(word)
    return _content(word) and not YEAR.fullmatch(word) and (tag.startswith("n") or tag in ("j", ""))


def defines(text: str, term: str) -> bool:
    """Whether a sentence defines the term ("网络运营者，是指…", "本法所称网络运营者，是指…")."""
    return bool(re.search(rf"(?:^|所称|[，。；：（）\s“\"]){re.escape(term)}[”\"]?[，,]?(?:是指|指的?是)", text))


def _article(ask: Ask, c: Chunk) -> float:
    """1 when the chunk is an asked article of the asked document, 0.5 when it cites one ("违反本条例第六十七条规定
    交易数据的，处…": a question naming an article may ask what follows from it), 0 otherwise."""
    if not ask.articles or c.doc_id not in (ask.doc_ids or [c.doc_id]):
        return 0.0
    if c.article_no in ask.articles:
        return 1.0
    return 0.5 if any(f"第{int_to_cn(n)}条" in c.text for n in ask.articles) else 0.0


def says_item(item: str, text: str) -> bool:
    """Whether a text names a coordinated item, in its words if not verbatim ("获二等奖" in "获得二等奖的")."""
    item, text = item.lower(), text.lower()
    return item in text or all(t in text for t in _words(item))


@lru_cache(maxsize=1024)
def _words(item: str) -> tuple[str, ...]:
    return tuple(tokens(item))


def _kind(ask: Ask, text: str, rest: str) -> float:
    """1 when the unit holds a figure of the asked kind, 0.5 when the clauses finishing its sentence do ("…责令限期
    改正；" then "逾期不改正的，处…罚款。"), -1 when neither does; 0 when no figure is asked."""
    if not ask.kind:
        return 0.0
    if holds_kind(text, ask.kind, ask.counter):
        return 1.0
    return 0.5 if rest and holds_kind(rest, ask.kind, ask.counter) else -1.0


def place_stem(place: str) -> str:
    """"深圳市" is written "深圳" as often as not."""
    return place[:-1] if len(place) >= 3 and place.endswith(("市", "省", "县")) else place


def _held(asked: list[str], text: str, around: str, doc: str, need: Callable[[Iterable[bool]], bool] = all) -> float:
    """1 when the unit says the asked values (every one, or any one for places), 0.5 when its passage does,
    0 when only its document does, -1 when the document never does; 0 when nothing is asked."""
    if not asked:
        return 0.0
    if need(a.lower() in text.lower() for a in asked):
        return 1.0
    if need(a.lower() in around for a in asked):
        return 0.5
    return 0.0 if need(a in doc for a in asked) else -1.0


def _r(a: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in a]
