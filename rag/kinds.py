"""The kinds of figure a question asks for (a sum of money, a share, a count, a date, a place…): how a question
asks one, and whether a text holds one. Grammar of asking and units of measure only, the same whatever the
documents are."""

from __future__ import annotations

import re
from functools import lru_cache

from rag.lexicon import dictionary_tag
from rag.text import CN_NUMERALS, checked_numbers, words

ASKS_NUMBER = r"多少|(?<![哪的])几|多大|多高|多长|多久|\bhow (?:many|much|big|large|long)\b"
# the kind of figure a question asks for, from how it asks (first match wins)
KINDS = [
    ("rank", r"第几|排名|排第|位居|位列|\brank"),
    ("duration", r"多长时间|多久|多少天|几天|期限|\bhow long\b"),
    ("year", r"哪一?年|\bwhat year\b|\bwhich year\b"),
    # English "when" asks only where it opens a clause ("… in 2021 when measured in RMB?" asks a size)
    ("date", r"什么时候|何时|哪天|日期|施行|生效|(?:^|[,;]\s*|\band\s+)when\b|\bdate\b|take effect|in force"),
    ("percent", r"比例|占比|份额|百分之|增长率|增速|增长了?多少|渗透率|\bpercent|\bshare\b|\brate\b|%"),
    ("place", r"在哪(?![些个一])|哪里|哪儿|什么地方|哪个(?:城市|国家|地方|省份?)|哪座城市|哪国|\bwhere\b"),
    ("multiple", r"多少倍|几倍|\bhow many times\b|\btimes (?:as|more)\b|-fold\b"),
    ("count", r"多少家|(?<!哪)几家|多少个|(?<!哪)几个|多少名|多少人|多少项|多少件|数量|\bhow many\b|\bnumber of\b"),
    ("money", r"规模(?!化)|金额|产值|营收|收入|费用|融资额|投资额|多少钱|价格|[售定票房股油造报单市]价|罚款|\bsize\b|\brevenue\b|\bvalue\b|\bamount\b|\bfine"),
    ("number", ASKS_NUMBER),
]
# a specific measure word after 多少/几 (not the general 个), and the words that count the same things
COUNTER = re.compile(r"(?:多少|(?<!哪)几)万?([家名人位项件条起所])")
SAME_COUNTER = {"人": "人名位", "名": "人名位", "位": "人名位"}
KIND_UNITS = {  # the units a figure of each kind is written with
    "money": ("亿元", "万元", "亿美元", "万亿美元", "亿", "万亿元", "元", "万亿", "美元"),
    "percent": ("%", "‰"),
    "count": ("家", "个", "起", "件", "名", "人", "项", "条", "万家", "万件", "万人"),
    "multiple": ("倍",),
    "date": ("年", "月", "日"),
    "duration": ("日", "天", "个", "月", "年", "小时"),
}
CURRENCY = re.compile(r"(人民币|\bRMB\b|\byuan\b)|(美元|\bUSD\b|\bUS\$|\bdollars?\b)", re.I)


def kind_of(text: str) -> str | None:
    """The kind a text asks for, by how it asks (the first of KINDS that matches); None when it asks no figure."""
    return next((kind for kind, pattern in KINDS if re.search(pattern, text, flags=re.I)), None)


@lru_cache(maxsize=16384)
def holds_kind(text: str, kind: str | None, counter: str = "") -> bool:
    """Whether a text holds a figure of the asked kind (any figure for kinds without units), counted in the asked
    measure word when the question names one (多少家: 1432家, 30余家, 十家)."""
    if kind == "money" and counter:
        return any(n.endswith("元") and n.endswith("美元") == (counter == "美元") for n in checked_numbers(text))
    if counter:
        return bool(re.search(rf"[\d{CN_NUMERALS}][\d.{CN_NUMERALS}]*[万亿]?[余多]?[{SAME_COUNTER.get(counter, counter)}]", text))
    if kind == "date":  # when: a month, a day or a part of the year, not only a year
        return bool(re.search(r"\d{1,2}月|\d{1,2}日|[一二三四五六七八九十]+月|[上下]半年|季度", text))
    if kind == "year":
        return bool(re.search(r"\d{4}年", text))
    if kind == "place":  # where: a place name of jieba's dictionary
        return any(dictionary_tag(w) == "ns" for w in words(text))
    if kind == "rank":
        return bool(re.search(r"第[一二三四五六七八九十\d]+|首位|首个|前列|之首", text))
    if kind == "duration" and re.search(r"每[年月日周]|每季度|每半年", text):
        return True
    found = [n for n in checked_numbers(text) if not n.startswith("第")]
    if kind in KIND_UNITS:
        return any(n.endswith(KIND_UNITS[kind]) for n in found) or (kind == "count" and any(n.isdigit() for n in found))
    return bool(found)
