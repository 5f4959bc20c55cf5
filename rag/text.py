"""Chinese text helpers shared by ingest and the query path: numerals, numbers with units, tokens."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from bm25s.stopwords import STOPWORDS_EN_PLUS

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}


def cn_to_int(text: str) -> int:
    """Chinese numeral (up to thousands) or Arabic digits to int: "二十一" → 21; 0 if not a numeral."""
    if text.isdigit():
        return int(text)
    total, digit = 0, None
    for ch in text:
        if ch in _CN_DIGITS:
            digit = _CN_DIGITS[ch]
        elif ch in _CN_UNITS:
            total += (digit if digit is not None else 1) * _CN_UNITS[ch]
            digit = None
        else:
            return 0
    return total + (digit or 0)


def int_to_cn(n: int) -> str:
    """21 → "二十一", the form article numbers take in Chinese law texts."""
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    if n < 20:
        return "十" + (digits[n % 10] if n % 10 else "")
    if n < 100:
        return digits[n // 10] + "十" + (digits[n % 10] if n % 10 else "")
    rest = n % 100
    head = digits[n // 100] + "百"
    if rest == 0:
        return head
    return head + ("零" + digits[rest] if rest < 10 else ("一" if rest < 20 else "") + int_to_cn(rest))


def normalize(text: str) -> str:
    """For matching: NFKC, lower case, no whitespace, no thousands separators."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    return re.sub(r"\s+", "", text)


UNIT = (
    r"万亿美元|亿美元|万亿元|亿元|万元|美元|元|万亿|亿|万件|万家|万人|万|%|‰|倍|家|个|起|件|名|人次|人|周岁|岁|项|条|"
    r"zb|ZB|平方公里|年|月|日"
)
NUMBER = re.compile(rf"(?<![\d.])(\d+(?:\.\d+)?)\s*({UNIT})?")


YEAR = re.compile(r"(?:19|20)\d{2}年?")  # a year, as a word ("2021年") or a number ("2021")

CN_NUMERALS = "零〇一二两三四五六七八九十百千"
CN_NUMBER = re.compile(
    rf"(?<![{CN_NUMERALS}万亿])(第)?([{CN_NUMERALS}]+)([万亿]?)(?![{CN_NUMERALS}])"
    r"(?(1)(?![条章节款编])|(?=[成倍个家项名位岁年日天元]|小时|周岁))(小时|周岁|[成倍个家项名位岁年日天]|元?)"
)
CN_PERCENT = re.compile(rf"百分之([{CN_NUMERALS}]+)")


def cn_numbers(text: str) -> list[str]:
    """Chinese numerals that count, rank, date or price ("三成", "第三位", "十日", "五千万元" → "5000万元",
    "百分之五" → "5%"), in the form `numbers()` gives their Arabic spelling; article numbers (第五十五条) excluded."""
    out = []
    for m in CN_NUMBER.finditer(text):
        value = cn_to_int(m.group(2))
        if value and (m.group(3) == "" or m.group(4) == "元" or m.group(1) is None):
            out.append(f"{m.group(1) or ''}{value}{m.group(3)}{m.group(4).replace('周岁', '岁')}")
    out += [f"{v}%" for v in (cn_to_int(m.group(1)) for m in CN_PERCENT.finditer(text)) if v]
    return out


def numbers(text: str) -> list[str]:
    """The numbers in a text as normalised "value+unit" strings (dates keep 年/月/日 as units)."""
    out = []
    text = re.sub(r"(?<=\d),(?=\d{3})", "", unicodedata.normalize("NFKC", text))
    for m in NUMBER.finditer(text):
        value = m.group(1)
        if "." in value:
            value = value.rstrip("0").rstrip(".")
        out.append(value + (m.group(2) or "").lower().replace("周岁", "岁"))  # 周岁 and 岁 are the same age
    return out


def month_day(text: str) -> str:
    """News writes a day "10·29" as often as "10月29日"; the second spelling, for matching."""
    return re.sub(r"(?<![\d.])(1[0-2]|0?[1-9])[·•](3[01]|[12]\d|0?[1-9])(?![\d.])", r"\1月\2日", text)


def checked_numbers(text: str) -> list[str]:
    """Every number an answer must back with a quote: Arabic with units, and counting Chinese numerals."""
    return numbers(text) + cn_numbers(text)


def bare_numbers(text: str) -> set[str]:
    return {re.match(r"[\d.]+", n).group(0) for n in numbers(text)}  # type: ignore[union-attr]


def quiet_jieba() -> None:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    logging.getLogger("bm25s").setLevel(logging.WARNING)


@lru_cache(maxsize=1)
def _jieba():  # type: ignore[no-untyped-def]
    import jieba

    quiet_jieba()
    return jieba.Tokenizer()


_NAME_FREQ = 200000


def add_words(words: list[str]) -> None:
    """Teach the tokenizer the corpus's own names (the lexicon's titles, aliases and places)."""
    tok = _jieba()
    tok.check_initialized()
    for w in words:
        if w and tok.FREQ.get(w) != _NAME_FREQ:  # jieba adds to its total on every call: only once per word
            tok.add_word(w, freq=_NAME_FREQ)


# English function words too: otherwise an English question matches the corpus's few English passages by its
# "the" and "what" rather than by what it asks
STOP = set("的 了 是 在 和 与 及 或 等 对 为 有 我 你 他 它 这 那 哪 么 吗 呢 吧 啊 多少 什么 怎样 怎么 如何 哪些 哪个 哪一 几 请问 "
           "一个 是否 以及 做 方面 哪些方面 什么样 开始 时候 什么时候 何时 哪部 哪家 哪个 哪一年 哪年 大约 大概 一共 总共 分别 叫 叫什么 名称  其 中 之 于 被 将 把 从 到 上 下 个 年 ? ？ , ， 。 、 ： : ; ； 《 》 （ ） ( ) “ ” - —".split()) | set(STOPWORDS_EN_PLUS)


def word_bounds(text: str) -> set[int]:
    """The offsets where jieba's words (precise mode) start or end: a character inside a word is no boundary."""
    return {b for _, start, end in _jieba().tokenize(text) for b in (start, end)}


def tokens(text: str) -> list[str]:
    """Search tokens: jieba words (search mode), lower-cased, stop words and punctuation removed."""
    return _kept(_jieba().cut_for_search(unicodedata.normalize("NFKC", text).lower()))


def cut(text: str) -> list[str]:
    """jieba's words in order (precise mode: each character in one word), lower-cased; only blanks dropped."""
    return [w for w in (x.strip() for x in _jieba().cut(unicodedata.normalize("NFKC", text).lower())) if w]


def words(text: str) -> list[str]:
    """jieba's words (precise mode), stop words and punctuation removed."""
    return _kept(cut(text))


def _kept(cut: Iterable[str]) -> list[str]:
    return [w for w in (x.strip() for x in cut) if w and w not in STOP and not re.fullmatch(r"[\W_]+", w)]


def ends_clause(word: str, text: str) -> bool:
    """Whether a word ends its clause ("何时通过的"), where a preposition of the dictionary is a verb."""
    return len(word) >= 2 and bool(re.search(rf"{re.escape(word)}(?:的|了)?(?:[，。？?、；\s]|$)", text))


def titled(text: str) -> str:
    """The question lower-cased, with AI written out as titles write it ("苏州的AI产业条例")."""
    return re.sub(r"(?<![a-z])ai(?![a-z])", "人工智能", text.lower())
