"""What a question asks for: named documents and articles, places, years, the kind of number, a list."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from rag.text import PLACES, checked_numbers, cn_to_int
from rag.types import DocumentInfo

GLOSSARY = {
    "beijing": "北京", "shanghai": "上海", "shenzhen": "深圳", "hangzhou": "杭州", "guangzhou": "广州",
    "hong kong": "香港", "macau": "澳门", "macao": "澳门", "chengdu": "成都", "wuhan": "武汉", "tianjin": "天津",
    "chongqing": "重庆", "china": "我国", "chinese": "我国", "global": "全球", "world": "全球",
    "market size": "市场规模", "market": "市场", "revenue": "营收", "r&d": "研发费用", "enterprises": "企业数量",
    "companies": "企业", "job": "就业岗位", "rank": "排名", "startup": "创业", "succeed": "成功",
    "probability": "概率", "log": "日志", "retain": "留存", "penalty": "罚款", "fine": "罚款",
    "speech recognition": "语音识别", "natural language processing": "自然语言处理", "nlp": "自然语言处理",
    "computer vision": "计算机视觉", "machine learning": "机器学习", "robot": "机器人", "robots": "机器人",
    "internet of things": "物联网", "iot": "物联网", "cloud computing": "云计算", "big data": "大数据", "chip": "芯片", "chips": "芯片", "autonomous driving": "自动驾驶", "healthcare": "医疗", "medical": "医疗", "finance": "金融",
    "education": "教育", "architecture": "架构", "architectures": "架构", "laying out": "布局", "layout": "布局",
    "strategy": "战略", "plan": "规划", "filing": "备案", "file": "备案", "register": "备案",
    "obligation": "义务", "obligations": "义务", "personal information": "个人信息", "minor": "未成年人", "minors": "未成年人",
    "cross-border": "跨境", "abroad": "境外", "critical information infrastructure": "关键信息基础设施",
    "network operator": "网络运营者", "network operators": "网络运营者", "user": "用户", "users": "用户",
    "profiling": "用户画像", "anonymization": "匿名化", "anonymisation": "匿名化", "important data": "重要数据",
    "core data": "核心数据", "public data": "公共数据", "classification": "分类分级", "security assessment": "安全评估",
    "ethics": "伦理", "supervision": "监管", "regulator": "主管部门", "authority": "主管部门", "warning": "警告",
    "computing": "计算", "accelerate": "加速", "unicorn": "独角兽", "unicorns": "独角兽", "researchers": "人才", "patents": "专利",
    "financing": "融资", "investment": "投融资", "patent": "专利", "talent": "人才",
    "compound annual growth": "年复合增长率", "cagr": "年复合增长率", "growth": "增长", "share": "占比",
    "recommendation": "建议", "suggestion": "建议", "bottleneck": "瓶颈", "pilot zone": "试验区",
    "data security law": "数据安全法", "personal information protection law": "个人信息保护法",
    "cybersecurity law": "网络安全法", "algorithm": "算法", "recommendation algorithm": "算法推荐",
    "sensitive personal information": "敏感个人信息", "consent": "同意", "take effect": "施行", "effective": "施行",
    "in force": "施行", "artificial intelligence": "人工智能", "ai": "人工智能", "data": "数据", "computing power": "算力",
    "regulation": "条例", "article": "条", "penetration": "渗透率", "output value": "产值规模",
}
SYNONYMS = {
    "工信部": "工业和信息化部", "发改委": "发展改革", "网信办": "网信部门", "个保法": "个人信息保护法",
    "AI": "人工智能", "营业收入": "营收", "研发投入": "研发费用", "增加值": "产业增加值", "中国": "我国", "份额": "占全球", "定义": "是指",
    "分成": "分为", "分作": "分为", "划分为": "分为", "罚多少": "罚款",
    "保存": "留存", "至少": "不少于", "最多": "不超过", "生效": "施行", "啥时候": "什么时候", "啥": "什么",
}
_ASKS_NUMBER = r"多少|(?<!哪)几|多大|多高|多长|多久|\bhow (?:many|much|big|long)\b"
_NUMERIC_KINDS = [
    ("rank", r"第几|排名|排第|位居|\brank"),
    ("duration", r"多长时间|多久|多少天|几天|期限|\bhow long\b"),
    ("date", r"什么时候|何时|哪一?年|哪天|日期|时间|施行|生效|发布于|\bwhen\b|\bwhat year\b|\bdate\b"),
    ("percent", r"比例|占比|份额|百分之|增长率|增速|增长多少|增长了多少|渗透率|\bpercent|\bshare\b|\brate\b|%"),
    ("money", r"规模|金额|产值|营收|收入|费用|融资|投资额|市场|多少钱|亿|\bsize\b|\brevenue\b|\bvalue\b|\bamount\b"),
    ("count", r"多少家|(?<!哪)几家|多少个|(?<!哪)几个|多少名|多少人|多少起|多少件|数量|(?<![第哪])几条|多少条|\bhow many\b|\bnumber of\b"),
    ("multiple", r"多少倍|几倍|倍"),
    ("number", _ASKS_NUMBER),
]
KIND_UNITS = {  # units a number of each asked kind carries
    "money": ("亿元", "万元", "亿美元", "万亿美元", "亿", "万亿元", "元", "万亿"),
    "percent": ("%",),
    "count": ("家", "个", "起", "件", "名", "人", "项", "条", "万家", "万件", "万人", "岁"),
    "multiple": ("倍",),
    "date": ("年", "月", "日"),
    "duration": ("日", "天", "个", "月", "年", "小时"),
}


@lru_cache(maxsize=16384)  # asked for the same chunks and sentences request after request
def holds_kind(text: str, kind: str | None) -> bool:
    """Whether a text holds a number of the asked kind (any number for other kinds); ordinals count nothing."""
    if kind == "date":
        return bool(re.search(r"\d{4}年|\d{1,2}月|\d{1,2}日", text))
    if kind == "duration" and re.search(r"每[年月日周]|每季度|每半年", text):
        return True
    found = [n for n in checked_numbers(text) if not n.startswith("第")]
    if kind in KIND_UNITS:
        return any(n.endswith(KIND_UNITS[kind]) for n in found) or (kind == "count" and any(n.isdigit() for n in found))
    return bool(found)


_LIST = re.compile(r"哪些|哪几|(?<!第)几条|分别|列举|包括什么|包括哪|都有|which (?:cities|ones)|what are|list")
ARTICLE_REF = re.compile(r"第([零〇一二三四五六七八九十百千\d]+)条")


@dataclass
class QueryInfo:
    """Features of a question used by retrieval, scoring and answering."""

    text: str
    expanded: str
    english: bool
    doc_ids: list[str] = field(default_factory=list)
    doc_mentions: list[str] = field(default_factory=list)  # how the question names them ("数据安全法")
    articles: list[int] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    years: list[str] = field(default_factory=list)
    kind: str | None = None
    is_list: bool = False
    other_titles: list[str] = field(default_factory=list)  # 《…》 in the question that name no corpus document
    defined: list[str] = field(default_factory=list)  # the term a definition question asks about
    items: list[str] = field(default_factory=list)  # "北美、欧洲和亚太分别…": each needs its own answer
    national: bool = False  # asks about China as a whole, not the world or a place


def analyze(question: str, docs: list[DocumentInfo]) -> QueryInfo:
    """Parse a question against the known documents."""
    text = question.strip()
    english = len(re.findall(r"[A-Za-z]", text)) > 2 * len(re.findall(r"[\u4e00-\u9fff]", text))
    low = text.lower()
    extra = [zh for en, zh in GLOSSARY.items() if re.search(rf"\b{re.escape(en)}\b", low)]
    extra += [zh for word, zh in SYNONYMS.items() if word in text and zh not in text]
    expanded = text + (" " + " ".join(extra) if extra else "")
    info = QueryInfo(text=text, expanded=expanded, english=english)
    quoted = re.findall(r"《([^》]+)》", text)
    names = {d.id: [n for n in (d.title, *d.aliases) if n and len(n) >= 3 and n != "报告"] for d in docs}
    info.other_titles = [q for q in quoted if not any(n in q or q in n for ns in names.values() for n in ns)]
    for phrase in _english_titles(text):  # "China's Provisions on … Deep Synthesis …": named, but is it ours?
        words = _words(phrase)
        hits = [d for d in docs if any(0 < len(key := _words(a) - _TITLE_WORDS) and key <= words for a in d.aliases)]
        if hits:
            info.doc_ids += [d.id for d in hits if d.id not in info.doc_ids]
        else:
            info.other_titles.append(phrase)
    for doc in docs:
        said = [n for n in names[doc.id] if n.lower() in text.lower()]
        if said or any(n.lower() in expanded.lower() for n in names[doc.id]):  # or named by a synonym ("个保法")
            info.doc_ids.append(doc.id)
            info.doc_mentions += [max(said, key=len)] if said else []
    # prefer the most specific mention: "深圳经济特区数据条例" should not also pick "上海市数据条例"
    if len(info.doc_ids) > 1:
        exact = [d.id for d in docs if d.id in info.doc_ids and any(q in (d.title, *d.aliases) for q in quoted)]
        info.doc_ids = exact or info.doc_ids
    info.articles = [n for n in (cn_to_int(m) for m in ARTICLE_REF.findall(text)) if n]
    info.places = [p for p in PLACES if p in expanded and p not in {"全国", "中国", "我国", "全球"}]
    info.places = [p for p in info.places if not any(p != q and p in q for q in info.places)]
    # a year inside a title ("《2021全球人工智能创新指数报告》") names the title, not the period asked about
    info.years = re.findall(r"(?<!\d)((?:19|20)\d{2})(?!\d)", re.sub(r"《[^》]*》", "", expanded))
    info.national = not info.places and bool(re.search(r"我国|中国|国内|全国", expanded)) and not re.search(r"全球|世界|国际|各国", expanded)
    for kind, pattern in _NUMERIC_KINDS:
        if re.search(pattern, expanded, flags=re.I):
            info.kind = kind
            break
    info.is_list = bool(_LIST.search(expanded.lower()))
    if info.is_list and not re.search(_ASKS_NUMBER, expanded, flags=re.I):
        info.kind = None  # "哪些投资赛道": names are asked, not a number
    if _DEFINING.search(text):
        m = re.search(r"[“\"']([^”\"']{2,12})[”\"']", text) or re.search(r"什么是([^？?，。的]{2,12})", text)
        m = m or re.search(r"([^，。、《》“”\s]{2,12}?)(?:是什么意思|指什么|的定义|的含义)", text)
        m = m or re.search(r"定义(?:了)?([^，。？?的《》]{2,12})", text)
        info.defined = [m.group(1)] if m else []
    info.items = _items(text)
    return info


def defines(text: str, term: str) -> bool:
    """Whether a sentence defines the term ("网络运营者，是指…", "本法所称网络运营者，是指…")."""
    return bool(re.search(rf"(?:^|所称|[，。；：（）\s“\"]){re.escape(term)}[”\"]?[，,]?(?:是指|指的?是)", text))


_EN_RUN = re.compile(r"[A-Z][\w'’-]*(?:\s+(?:(?:on|of|the|for|and|to|in)\s+)*[A-Z][\w'’-]*)+")


def _english_titles(text: str) -> list[str]:
    """Capitalised runs that name a law or rules ("Provisions on the Administration of …")."""
    return [m.group(0) for m in _EN_RUN.finditer(text) if re.search(r"\b(Law|Provisions|Regulations?|Measures|Rules|Act)\b", m.group(0))]


def _words(phrase: str) -> set[str]:
    """Lower-case words, plural "s" dropped, for matching an English title against the aliases."""
    return {w.rstrip("s") if len(w) > 3 and not w.endswith("'s") else w for w in re.findall(r"[a-z][a-z'’]*", phrase.lower())}


_TITLE_WORDS = _words("law provisions regulations measures rules plan guidelines act on of the for and to in "
                      "china's chinese people's republic promotion administration")
_DEFINING = re.compile(r"定义|是指|含义|什么是|什么意思|指什么|何谓|what is|what does .+ mean|define", re.I)


def _items(text: str) -> list[str]:
    """The things a "分别" question lists: "基础层和技术层分别提供什么" → ["基础层", "技术层"]."""
    m = re.search(r"([^，。？?；]{2,40}?)分别", text)
    if not m:
        return []
    phrase = re.split(r"[在对从看，]|中(?!低)", m.group(1))[-1]
    first = re.search(r"[和、与及]", phrase)
    if not first:
        return []
    head = phrase[: first.start()]
    phrase = phrase[head.rfind("的") + 1 :] if "的" in head else phrase
    items = [re.split(r"的", p)[0].strip() for p in re.split(r"[和、与及]", phrase)]
    return [i for i in items if 2 <= len(i) <= 8]
