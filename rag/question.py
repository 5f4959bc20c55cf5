"""Reading a question: what it asks (one or more sub-questions) and what pins each down (place, year, edition,
world or China, the kind of number, a named document or article). Follow-ups are resolved in `followup`.

Names come from the corpus lexicon; the only vocabulary here is the grammar of asking (question words,
coordination, units of measure), which is the same whatever the documents are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from rag.kinds import ASKS_NUMBER, COUNTER, CURRENCY, kind_of
from rag.lexicon import Lexicon, dictionary_tag, function_words, synonyms
from rag.text import YEAR, cn_to_int, ends_clause, month_day, titled, tokens, word_bounds, words
from rag.units import plain

_OPEN = re.compile(r"概括|总结|概述|综述|介绍|描述|说说|谈谈|讲讲|有哪些|哪些方面|什么举措|什么措施|什么建议|"
                   r"\bsummari[sz]e|\boverview\b|\bdescribe\b|\bwhat (?:does|do) .+ (?:say|recommend)|\bwhat are\b", re.I)
_INSTRUCTION = re.compile(r"(?:请|帮我|麻烦)?(?:简要|简单)?(?:概括|总结|概述|综述|介绍|说说|谈谈|讲讲)(?:一下)?|^请")
_LIST = re.compile(r"哪些|哪几|列举|包括什么|包括哪|都有|\bwhich\b|\blist\b", re.I)
_COMPARE = re.compile(r"哪个更|哪个先|哪个早|谁先|哪个多|哪个大|哪个高|哪个少|谁更|谁多|更多|更高|更大|相比|比较|对比|\bcompare|\bhigher\b|\blarger\b|\bmore than\b", re.I)
# English "what is" defines only a bare term ("What is personal information?"), not "what is the share of …"
_DEFINE = re.compile(r"是指|什么是|定义|含义|什么意思|指什么|何谓|\bdefin|\bmeaning of\b|\bwhat does .+ mean\b|"
                     r"\bwhat (?:is|are) (?!(?:the|its|their|this|that|these|those)\b)(?:an? )?[a-z][\w'-]*(?: [a-z][\w'-]*){0,3}\s*\??$", re.I)
_WORLD = re.compile(r"全球|世界|\bglobal|\bworld", re.I)
_CHINA = re.compile(r"我国|中国|国内|全国|\bchina|\bchinese|\bnational", re.I)
_SUPERLATIVE = re.compile(r"最(?:高|多|大|低|少|小|早|晚|快|强|重要|主要)|第一|首位|之首|首个|首家|首部|首次|\b(?:highest|largest|most|biggest|lowest|first)\b", re.I)
_EXTREME_TIME = re.compile(r"最(?:早|晚|先|近)")
_MEASURE = re.compile(r"[\u4e00-\u9fff](?:量|数|额|价|率)(?:是|为|有)?(?:多少)?[？?]?$")  # 产量, 人数, 售价, 出生率
_WHY = re.compile(r"原因|为什么|为何|如何解释|怎么解释|\bwhy\b", re.I)
_YES_NO = re.compile(r"能不能|可不可以|能否|可否|是否|有没有|会不会|要不要|吗[？?]?$")  # "…开不一样的价吗": not a figure
_WHEN = re.compile(r"时间[？?]?$|日期[？?]?$")
_QUOTED = re.compile(r"[“「\"]([^”」\"]{2,20})[”」\"]")
_NAME = re.compile(r"什么|谁|哪")  # what, who or which, not how many
_ORDINAL = re.compile(r"第[一二三四五六七八九十百零〇\d]+(?:届|次|期|批|轮|季|代)")
# a part of a year the evidence must name as it must name the year: 首日, 下半年, 一季度, 8月, 10月29日 ("10·29")
_PERIOD = re.compile(r"首日|[上下]半年|前?[一二三四]季度|(?<!\d)\d{1,2}月(?:\d{1,2}日)?(?!\d)")
ARTICLE = re.compile(r"第([零〇一二三四五六七八九十百千\d]+)条")
_CONJ = r"(?:和|与|及|以及|、|跟|同|或|还是|\band\b|\bor\b)"
_APPOSITIVE = re.compile(r"这?([两二三四五六七八九十\d])[个类部项种家座条所位名大][\u4e00-\u9fff]{0,4}$")
# a word that asks, strictly: not 几 of 几千 (a count), not 什么 of 没什么 (a denial)
ASKS = re.compile(r"多少|哪|何时|怎样|怎么|如何|是否|谁|为何|为什么|多久|多长|多大|多高|(?<!没)什么|几(?![千百万十])")
_INTERROGATIVE = re.compile(r"多少|什么|哪|几|何时|怎样|怎么|如何|是否|吗|谁|为何|为什么|多久|多长|多大|多高|[A-Za-z]")
_EN_COORDINATION = re.compile(r"((?:[A-Z][\w'’-]*\s+)*[A-Z][\w'’-]*)\s+and\s+(?:the\s+)?((?:[A-Z][\w'’-]*\s+)*[A-Z][\w'’-]*)")
_DISTRIBUTIVE = re.compile(r"分别|各自|各(?=是|为|有|多少|几|在|自)|哪个|哪一个|谁|\brespectively\b|\beach\b", re.I)


@dataclass
class Ask:
    """One thing a question asks, with what pins it down; `text` is what retrieval searches for."""

    text: str
    focus: str = ""  # the coordinated item this part is about ("深圳"), "" for the whole question
    places: list[str] = field(default_factory=list)
    years: list[str] = field(default_factory=list)
    ordinals: list[str] = field(default_factory=list)  # 第二届, 下半年: an edition or a period the evidence must name
    scope: str = ""  # "world", "china" or ""
    kind: str | None = None
    counter: str = ""  # the measure word a count (多少家: 家) or the currency a sum (按人民币计: 元) is asked in
    doc_ids: list[str] = field(default_factory=list)
    articles: list[int] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)  # content words, for coverage
    superlative: bool = False  # 最高, 第一: the evidence must single something out
    english: bool = False  # asked in English: its cosines to the Chinese documents sit lower as a whole
    defines: str = ""  # the term a definition question asks about
    section: str = ""  # a heading of the documents the question names ("强化数据安全")
    quoted: list[str] = field(default_factory=list)  # what the question puts in quotation marks ("“高集中”")
    cited: list[str] = field(default_factory=list)  # a 《title》 no document is, only mentioned: the evidence must cite it


@dataclass
class Reading:
    """What a question asks: its sub-questions (at least one) and how to answer it."""

    text: str
    english: bool
    intent: str  # "fact", "list", "open", "define"
    asks: list[Ask]
    compare: bool = False
    absent: str = ""  # a 《title》 or English law name no document has


class Reader:
    """Reads questions against the corpus lexicon."""

    def __init__(self, lexicon: Lexicon, corpus_text: str = "") -> None:
        self.lexicon = lexicon
        self.corpus = corpus_text
        function_words()  # read once here, not on the first question
        self.names = {d: [n for n in names if len(n) >= 3] for d, names in lexicon.titles.items()}
        self.english = sorted(lexicon.english.items(), key=lambda kv: -len(kv[0]))
        self.heading_words = {h: words(plain(h)) for h in lexicon.headings}

    def read(self, question: str) -> Reading:
        text = question.strip().replace("啥", "什么")  # colloquial "what"
        english = _is_english(text)
        intent = "define" if _DEFINE.search(text) else "open" if _OPEN.search(text) else "list" if _LIST.search(text) else "fact"
        reading = Reading(text=text, english=english, intent=intent, asks=[], compare=bool(_COMPARE.search(text)),
                          absent=self._absent(text))
        parts = [p.strip() for p in re.split(r"[？?；;]|(?<=[。！])", text) if len(p.strip(" ，,。")) >= 2] or [text]
        parts = [c for p in parts for c in _clauses(p)]
        written: dict[str, str] = {}  # an English part with its Chinese added → the part as written
        if english:  # the Chinese of the words the lexicon knows goes with each part (for BM25 and names)
            written = {self._expand(p): p for p in parts}
            parts = list(written)
        subject = self._subject(parts[0])
        for i, part in enumerate(parts):
            if i and not _INTERROGATIVE.search(part):
                continue  # "…？简单概括一下。": an instruction, already read into the intent, asks nothing more
            if i and (len(part) < 10 or len(self._content(part)) < 2):
                part = f"{subject}{part}"  # "X的产量是多少？排第几？": the second part keeps the subject
            elif i and reading.asks and len(reading.asks[0].places) <= 1 and not _pins(self._ask(part, "")):
                # "2021年深圳的企业有多少家？发明专利授权量是多少？": a later part naming no place, year, scope or
                # document is about the first part's place and year
                first = reading.asks[0]
                said = [n for d in first.doc_ids for n in self.lexicon.titles.get(d, []) if n in parts[0]]
                pins = "".join(f"{y}年" for y in first.years) + "".join(first.places) + max(said, key=len, default="")
                part = f"{pins} {part}" if english and pins else pins + part
            names = self._english_names(written[part]) if part in written else None
            asks = [self._ask(t, focus) for t, focus in names or self._split(part)]
            for ask in asks if i and reading.asks else []:
                # "《某条例》何时生效？它取代了哪部规章？": a later part is about the document the first one names
                ask.doc_ids = ask.doc_ids or list(reading.asks[0].doc_ids)
            reading.asks += asks
        for ask in reading.asks:
            ask.english = english
        if reading.compare and len(reading.asks) == 1 and len(reading.asks[0].places) >= 2:
            ask = reading.asks[0]  # "北京比上海多多少": one ask per place
            reading.asks = [replace(ask, places=[p], focus=p, text=_only(ask.text, p, ask.places)) for p in ask.places]
        return reading

    # -- parts -----------------------------------------------------------------------------------------

    def _split(self, part: str) -> list[tuple[str, str]]:
        """A part with coordinated items ("北京和上海分别…", "A、B和C各是多少") becomes one text per item."""
        span = self._coordination(part)
        if span is None:
            return [(part, "")]
        a, b, items = span
        return [(part[:a] + item + part[b:], item) for item in items]

    def _english_names(self, part: str) -> list[tuple[str, str]] | None:
        """An English part (as written) naming coordinated proper names ("the Suzhou Industrial Park and the Wuxi
        New District … each", "between Suzhou and Wuxi") as one part per name, each with its own Chinese; None
        when it names none, or names the lexicon does not know and asks nothing of each."""
        m = _EN_COORDINATION.search(part)
        items = [m.group(1), m.group(2)] if m else []
        if not m or not (all(self._expand(x) != x for x in items) or _DISTRIBUTIVE.search(part)):
            return None
        return [(self._expand(part[: m.start()] + item + part[m.end() :]), "") for item in items]

    def _coordination(self, part: str) -> tuple[int, int, list[str]] | None:
        """Where coordinated items sit in a part and what they are; None when nothing is coordinated, or when
        the items are neither known names nor asked about one by one."""
        marked = re.sub(r"《[^》]+》", lambda m: "\x00" * len(m.group(0)), part)
        best = None
        for m in re.finditer(rf"([^，。？?、和与及跟同或]+?)((?:{_CONJ}[^，。？?、和与及跟同或]+?)+)(?=分别|各|哪个|谁|的|是|在|有|都|中|，|？|\?|$)", marked):
            bounds = word_bounds(part)
            if any(c.start() + m.start() not in bounds or c.end() + m.start() not in bounds
                   for c in re.finditer(_CONJ, part[m.start() : m.end()])):
                continue  # a conjunction's character inside a word ("不同", "以及时") joins nothing
            items = [x for x in re.split(_CONJ, part[m.start() : m.end()]) if x]
            # "对学生和教师这两类人员各…": an appositive that counts the items asks of each of them
            counted = _APPOSITIVE.search(items[-1]) if len(items) >= 2 else None
            counted = counted if counted and cn_to_int(counted.group(1)) == len(items) and counted.start() else None
            if counted:
                items[-1] = items[-1][: counted.start()]
            items = self._trim(items)
            if len(items) < 2:
                continue
            known = sum(1 for x in items if self._is_name(x))
            after = part[m.end() :]
            if known >= 2 or ((counted or _DISTRIBUTIVE.search(after)) and all(len(x) <= 12 for x in items)):
                start = part.index(items[0], m.start())
                best = (start, m.end(), items)
                break
        return best

    def _trim(self, items: list[str]) -> list[str]:
        """The first item starts after the last word of the preceding clause: keep as many words as the last
        item has ("甲类、乙类和丙类" → two characters each; "比较苏州和无锡" → "苏州")."""
        items = [x.strip(" ，,") for x in items if x.strip(" ，,")]
        if len(items) < 2:
            return items
        first = items[0]
        if re.fullmatch(r"《[^》]+》.*", first) or self._is_name(first):
            return items
        names = [n for n in self._names_in(first) if first.endswith(n)]
        if names:
            items[0] = max(names, key=len)
            return items
        whole, width = first, len(items[-1])  # from the last word boundary that leaves it as long ("对研究生和教师" → 研究生)
        if len(first) > width:
            first = first[max((b for b in word_bounds(first) if b <= len(first) - width), default=len(first) - width) :]
        first = re.sub(r"^(?:对于|关于|对|在|从|把|向|给|比|将|就|与)", "", first) or first  # a preposition opens no item
        # "获一等奖和获二等奖的…": but it keeps the word the last item begins with, so each is said the same way
        cut = whole[: len(whole) - len(first)]
        lead = next((p for p in (items[-1][:2], items[-1][:1]) if cut.endswith(p) and not first.startswith(p)), "")
        items[0] = lead + first
        return items

    def _is_name(self, text: str) -> bool:
        t = text.strip("《》")
        return (
            t in self.lexicon.places
            or any(t == n or t in n and len(t) >= 4 for names in self.names.values() for n in names)
            or bool(YEAR.fullmatch(t))
        )

    def _names_in(self, text: str) -> list[str]:
        return [p for p in self.lexicon.places if p in text] + [n for ns in self.names.values() for n in ns if n in text]

    def _subject(self, part: str) -> str:
        """The part before its question words, without the adverbs that end it ("…法最早是哪一年…": 最早 is
        how that part asks, not what the later parts are about)."""
        m = re.search(r"(是多少|有多少|是什么|叫什么|有哪些|是哪|多少|什么|哪|几|何时|怎样|如何|是否)", part)
        subject = (part[: m.start()] if m else part).strip(" ，,")
        said = words(subject)
        while said and said[-1] in function_words() and dictionary_tag(said[-1]) == "d":
            subject = subject[: subject.rfind(said.pop())].rstrip(" ，,")
        return subject

    def _content(self, part: str) -> list[str]:
        """The words that say what is asked: not numbers, not asking words, not the function words jieba's
        dictionary tags as adverb, preposition, conjunction, particle, pronoun or interjection (又, 为了, 这种),
        except a superlative (最早), which the evidence must say, and a word that ends its clause, which is a verb
        there whatever the dictionary says (通过 in "何时通过的": adopted, not "by means of")."""
        return [t for t in tokens(part) if not re.fullmatch(r"[\d.]+|[a-z]", t) and not re.fullmatch(ASKS_NUMBER, t)
                and (t not in function_words() or _SUPERLATIVE.fullmatch(t) or ends_clause(t, part))]

    # -- one ask ---------------------------------------------------------------------------------------

    def _ask(self, text: str, focus: str) -> Ask:
        # "请总结…", "介绍一下…": how to answer, read into the intent; searched for, they only dilute what is asked
        text = stripped if len(stripped := _INSTRUCTION.sub("", text).strip(" ，,。")) >= 4 else text
        formal = [f for w, f in synonyms().items() if w in text and f not in text]
        text = text + (" " + " ".join(formal) if formal else "")  # 生效 is written 施行 in the laws
        bare = re.sub(r"《[^》]*》", "", text)
        ask = Ask(text=text, focus=focus)
        places = [p for p in self.lexicon.places if p in bare]  # a place inside a 《title》 names the title
        places += self._unknown_places(bare)
        ask.places = [p for p in places if not any(p != q and p in q for q in places)]
        ask.years = re.findall(r"(?<!\d)((?:19|20)\d{2})(?!\d)", bare)
        ask.ordinals = _ORDINAL.findall(bare) + _PERIOD.findall(month_day(bare))
        ask.quoted = _QUOTED.findall(bare)
        ask.articles = [n for n in (cn_to_int(m) for m in ARTICLE.findall(text)) if n]
        ask.doc_ids = self._documents(text)
        ask.cited = [t for t in re.findall(r"《([^》]+)》", text) if not any(t in names for names in self.lexicon.titles.values())]
        world, china = bool(_WORLD.search(bare)), bool(_CHINA.search(bare))
        if world and not china:
            ask.scope = "world"
        elif china and not world and not ask.places:
            ask.scope = "china"
        # the kind is read from the clause that asks ("…施行时，哪一部法规被废止": a name, not a date), and from the
        # whole question only to make a bare "how much" specific ("市场规模，有多大": a sum of money)
        asking = next((c for c in reversed(re.split(r"[，,]", text)) if ASKS.search(c)), text)
        ask.kind = kind_of(asking)
        if ask.kind == "number":
            ask.kind = kind_of(text)
        if ask.kind == "count" and (m := COUNTER.search(text)):
            ask.counter = m.group(1)
        elif ask.kind == "money" and (m := CURRENCY.search(text)):
            ask.counter = "美元" if m.group(2) else "元"  # "按人民币计": the sum in yuan, not the dollar figure beside it
        if ask.kind is None and _WHEN.search(text):
            ask.kind = "date"
        elif ask.kind is None and _MEASURE.search(text) and not _YES_NO.search(text):
            ask.kind = "percent" if re.search(r"率[？?]?$", text) else "number"
        # "最早是哪一年": in a when-question the extreme is the asked date itself, which no sentence calls 最早; it is
        # part of the asking, neither a superlative the evidence must say nor a word it must hold
        asking = set(_EXTREME_TIME.findall(bare)) if ask.kind in ("year", "date") else set()
        ask.superlative = bool(_SUPERLATIVE.search(_EXTREME_TIME.sub("", bare) if asking else bare))
        if _DEFINE.search(text):
            m = re.search(r"[“\"']([^”\"']{2,12})[”\"']", text) or re.search(r"什么是([^？?，。的]{2,12})", text)
            m = m or re.search(r"([^，。、《》“”\s]{2,12}?)(?:是什么意思|指什么|的定义|的含义)", text)
            m = m or re.search(r"定义(?:了)?([^，。？?的《》]{2,12})", text)
            ask.defines = m.group(1) if m else ""
        ask.section = self._heading_named(text)
        if ask.kind and not re.search(ASKS_NUMBER, text, flags=re.I) and ask.kind not in ("date", "rank", "place"):
            if _LIST.search(text) or _WHY.search(text) or (ask.kind != "year" and _NAME.search(text)):
                ask.kind = None  # "哪些地区的规模…", "超大规模模型叫什么", "成本高的原因": names or reasons, not a figure
        said_as_titled = titled(text)
        names = {n.lower() for d in ask.doc_ids for n in self.lexicon.titles.get(d, []) if n.lower() in said_as_titled}
        # the name a document is named by, and the words of it, are retrieval's business (its short name is rarely
        # in its own text, and every sentence of it is about it): what is asked of it is in the other words
        # an English word asks nothing of Chinese text (the Chinese the lexicon gives it does), but a Latin name in a
        # Chinese question (APEC, iPhone) is what the evidence must be about
        english = _is_english(text)
        ask.terms = [t for t in dict.fromkeys(self._content(text))
                     if not (english and re.fullmatch(r"[a-z'.-]+", t)) and not any(titled(t) in n for n in names) and t not in asking]
        return ask

    def _heading_named(self, text: str) -> str:
        """The heading of the documents a question names: written whole ("浦东新区的数据改革" names the chapter
        "浦东新区数据改革"), else by all of its three or more words in any order ("发展的策略和建议" names
        "产业发展策略与建议" when the question also says 产业); the longest wins."""
        said = plain(text).replace("的", "")
        named = [h for h in self.lexicon.headings if len(plain(h)) >= 4 and plain(h).replace("的", "") in said]
        if not named:
            low = titled(said)
            named = [h for h, hw in self.heading_words.items() if len(hw) >= 3 and all(w in low for w in hw)]
        return max(named, key=len) if named else ""

    def _unknown_places(self, text: str) -> list[str]:
        """Place names the documents never mention (jieba's dictionary tag and a place suffix: 武汉市, 湖北省):
        asked, so the evidence must hold them. jieba tags many common nouns as places, hence the suffix."""
        if not self.corpus:
            return []
        words = {w for w in tokens(text) if len(w) >= 3 and re.fullmatch(r"[\u4e00-\u9fff]+[市省县]", w)}
        return [w for w in sorted(words) if w not in self.corpus and w[:-1] not in self.corpus and dictionary_tag(w) == "ns"]

    def _documents(self, text: str) -> list[str]:
        quoted = set(re.findall(r"《([^》]+)》", text))
        exact = [d for d, names in self.lexicon.titles.items() if quoted & set(names)]
        if exact:
            return exact
        low = titled(text)
        hits = {d: max((len(n) for n in names if n.lower() in low), default=0) for d, names in self.names.items()}
        hits = {d: n for d, n in hits.items() if n}
        if not hits:
            return []
        # the most specific mention wins: a long title does not also name the shorter title it contains
        longest = max(hits.values())
        return [d for d, n in hits.items() if n == longest or not any(n < m and _overlaps(d, e, self.names) for e, m in hits.items())]

    def _absent(self, text: str) -> str:
        """A 《title》 the question names that is neither a document nor mentioned by one."""
        for title in re.findall(r"《([^》]+)》", text):
            if not any(title in n or n in title for names in self.names.values() for n in names) and title not in self.corpus:
                return f"《{title}》"
        for phrase in re.findall(r"[A-Z][\w'’-]*(?:\s+(?:(?:on|of|the|for|and|to|in)\s+)*[A-Z][\w'’-]*)+", text):
            if re.search(r"\b(Law|Provisions|Regulations?|Measures|Rules|Act)\b", phrase):
                words = _words(phrase)
                known = [_words(n) - _TITLE_WORDS for names in self.names.values() for n in names if re.search(r"[a-z]", n.lower())]
                if words - _TITLE_WORDS and not any(k and k <= words for k in known):
                    return phrase
        return ""

    def _expand(self, text: str) -> str:
        """An English question with the Chinese of the words the lexicon knows appended (for BM25 and names)."""
        low = text.lower()
        found = []
        for en, zh in self.english:
            if re.search(rf"\b{re.escape(en)}\b", low):
                found.append(zh)
                low = re.sub(rf"\b{re.escape(en)}\b", " ", low)
        return text + (" " + " ".join(dict.fromkeys(found)) if found else "")


def _clauses(part: str) -> list[str]:
    """"…是哪年公布的，哪天起实施": clauses that each ask something are questions of their own."""
    if _is_english(part):  # "When was it adopted, and when did it take effect?"
        clauses = [c.strip() for c in re.split(r",?\s+and\s+(?=(?:when|what|how|which|who|where)\b)", part, flags=re.I)]
        return [c for c in clauses if c] or [part]
    # "苏州河道条例，哪年公布、哪天起实施": a clause that asks nothing is the context of the next one that asks
    # (or, at the end, of the one before); "北京、上海和深圳分别…" stays whole, as only its last clause asks
    pieces = re.split(r"([，,、])", part)
    groups: list[str] = []
    pending = ""
    for clause, sep in zip(pieces[::2], [*pieces[1::2], ""], strict=True):
        if ASKS.search(clause):
            groups.append(pending + clause + sep)
            pending = ""
        elif groups and not pending:
            groups[-1] += clause + sep
        else:
            pending += clause + sep
    groups = [g.strip(" ，,、") for g in groups]
    return groups if len(groups) >= 2 else [part]


def _only(text: str, keep: str, places: list[str]) -> str:
    for p in places:
        if p != keep:
            text = text.replace(p, "")
    return text


def _overlaps(a: str, b: str, names: dict[str, list[str]]) -> bool:
    return any(x in y for x in names[a] for y in names[b] if x != y)


def _words(phrase: str) -> set[str]:
    return {w.rstrip("s") if len(w) > 3 else w for w in re.findall(r"[a-z]+", phrase.lower())}


_TITLE_WORDS = _words("law provisions regulations measures rules plan guidelines act on of the for and to in "
                      "china chinese people republic promotion administration")


def _pins(ask: Ask) -> bool:
    """Whether an ask names its own place, year, world-or-China scope or document."""
    return bool(ask.places or ask.years or ask.scope or ask.doc_ids)


def _is_english(text: str) -> bool:
    return len(re.findall(r"[A-Za-z]", text)) > 2 * len(re.findall(r"[\u4e00-\u9fff]", text))
