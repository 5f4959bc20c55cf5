"""Reading questions: sub-questions, constraints and follow-ups, against a small hand-made lexicon."""

from __future__ import annotations

import pytest

from rag.followup import is_follow_up, resolve
from rag.kinds import holds_kind
from rag.lexicon import Lexicon
from rag.question import Reader

LEXICON = Lexicon(
    titles={"water-law": ["中华人民共和国水法", "水法", "Water Law"], "city-rules": ["苏州市河道管理条例", "苏州河道条例"]},
    places=["苏州市", "苏州", "无锡", "常州", "江苏省"],
    headings=["河道保护措施", "发展目标", "太湖流域治理策略与建议"],
    english={"suzhou": "苏州", "wuxi": "无锡", "river": "河道", "water law": "水法", "suzhou-wuxi-changzhou": "苏锡常"},
)


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader(LEXICON, "苏州 无锡 河道 《太湖治理规划》")


def test_coordinated_places_become_one_ask_each(reader: Reader) -> None:
    r = reader.read("苏州和无锡的河道长度分别是多少？")
    assert [a.focus for a in r.asks] == ["苏州", "无锡"]
    assert [a.places for a in r.asks] == [["苏州"], ["无锡"]]
    assert all("河道长度" in a.text for a in r.asks)


def test_coordinated_attributes_asked_one_by_one_become_asks(reader: Reader) -> None:
    r = reader.read("甲类、乙类和丙类分别指什么？")
    assert [a.focus for a in r.asks] == ["甲类", "乙类", "丙类"]


def test_a_topic_joined_by_and_is_not_split(reader: Reader) -> None:
    r = reader.read("报告对防洪和供水有什么建议？")
    assert len(r.asks) == 1 and r.intent == "open"


def test_function_words_are_not_what_is_asked(reader: Reader) -> None:
    terms = reader.read("我只是为了这种情况，河道条例又从什么时候开始施行？").asks[0].terms
    assert "施行" in terms and not {"我", "只是", "为了", "这种", "又"} & set(terms)


def test_clauses_that_each_ask_are_asks_of_their_own(reader: Reader) -> None:
    r = reader.read("《水法》是哪天通过的，又从什么时候开始施行？")
    assert len(r.asks) == 2 and r.asks[1].kind == "date" and r.asks[1].doc_ids == ["water-law"]
    assert len(reader.read("苏州有几千条河道，河长是谁？").asks) == 1  # 几千 counts, it does not ask
    english = reader.read("When was the Water Law adopted, and when did it take effect?")
    assert len(english.asks) == 2 and english.asks[1].kind == "date"


def test_a_clause_that_asks_nothing_is_the_context_of_the_clauses_that_ask(reader: Reader) -> None:
    r = reader.read("苏州那部河道条例，是哪天通过的、又从哪天起施行？")
    assert len(r.asks) == 2 and all("苏州" in a.text for a in r.asks)
    assert "通过" in r.asks[0].terms  # a word ending its clause is a verb there, not the preposition "by"
    assert len(reader.read("苏州、无锡和常州的河道分别有多长？").asks) == 3  # a list: only its last clause asks


def test_an_appositive_counting_the_items_asks_of_each(reader: Reader) -> None:
    r = reader.read("河道条例对防洪和供水这两项工作各提了哪些要求？")
    assert [a.focus for a in r.asks] == ["防洪", "供水"]
    assert r.asks[1].text == "河道条例对供水各提了哪些要求"  # the appositive goes, the rest of the question stays


def test_each_question_of_a_turn_is_an_ask_and_a_short_one_keeps_the_subject(reader: Reader) -> None:
    r = reader.read("2021年苏州的河道总长是多少？在全省排第几？")
    assert len(r.asks) == 2
    assert r.asks[0].kind == "money" or r.asks[0].kind == "number"
    assert r.asks[1].kind == "rank" and "苏州" in r.asks[1].text and r.asks[1].years == ["2021"]


@pytest.mark.parametrize(
    ("question", "field", "value"),
    [
        ("2020年全球的市场规模是多少？", "scope", "world"),
        ("我国的市场规模是多少？", "scope", "china"),
        ("第二届河道论坛在哪里举办？", "ordinals", ["第二届"]),
        ("2023年下半年苏州河道清淤首日完成多少公里？", "ordinals", ["下半年", "首日"]),  # a period pins it as a year does
        ("10·29河道事故的死亡人数", "ordinals", ["10月29日"]),
        ("What is river governance?", "intent", "define"),
        ("What is the share of rivers in Suzhou?", "intent", "fact"),  # "what is the …" asks a fact
        ("《水法》第十二条规定了什么？", "articles", [12]),
        ("《水法》什么时候施行？", "doc_ids", ["water-law"]),
        ("苏州河道条例和水法哪个先施行？", "compare", True),
        ("河道的定义是什么？", "intent", "define"),
        ("哪一年开始实行河长制？", "kind", "year"),
        ("苏州的河道是无锡的多少倍？", "kind", "multiple"),
        ("How many times longer is the river in Suzhou than in Wuxi?", "kind", "multiple"),
        ("When did the Water Law take effect?", "kind", "date"),
        ("How large was the river fund in 2021 when measured in RMB?", "kind", "number"),  # a "when" inside asks no date
        ("占比最高的是哪一类？", "superlative", True),
        ("首个大规模治水工程叫什么？", "kind", None),  # 规模 inside a name: a name is asked, not a figure
        ("治水工程的投资规模是多少？", "kind", "money"),
        ("苏州的治水工程能不能给老客户开不一样的价？", "kind", None),  # a yes/no question asks no figure
        ("苏州治水工程费用高的原因是什么？", "kind", None),  # nor does a why question
        ("苏州治水难以规模化推广吗？", "kind", None),  # 规模化 is scaling up, not a size
        ("概括苏州提出的几条治水建议。", "kind", None),  # "the several", not "how many"
        ("苏州提出了几条治水建议？", "kind", "number"),
        ("苏州治水工程的造价？", "kind", "money"),  # a price is a sum of money
        ("苏州治水工程的产量？", "kind", "number"),
        ("苏州有多少家治水企业？", "counter", "家"),
        ("苏州治水投资规模（按人民币计）是多少？", "counter", "元"),  # the currency a sum is asked in
        ("What was the amount of Suzhou's river fund in US dollars?", "counter", "美元"),
        ("《太湖治理规划》的目标是什么？", "cited", ["太湖治理规划"]),  # named by a document, not one
        ("《水法》的目标是什么？", "cited", []),
        ("苏州有几个治水工程？", "counter", ""),  # 个 counts anything: no measure word to hold the figure to
        ("报告称“河长制”为什么有效？", "quoted", ["河长制"]),
        ("苏州的河道保护措施有哪些？", "section", "河道保护措施"),
        ("概括报告对太湖流域治理提出的策略建议。", "section", "太湖流域治理策略与建议"),  # named by all its words
        ("报告对太湖的治理提出了哪些建议？", "section", ""),  # 流域 and 策略 are not said: another heading may be meant
        ("苏州的河长制在哪里设立？", "kind", "place"),  # where: a place answers
        ("苏州的河长制在哪些方面起了作用？", "kind", None),  # which respects: not a place
        ("《水法》施行时，哪一部法规同时废止？", "kind", None),  # the clause that asks asks a name, not a date
        ("苏州的治水投资规模，有多大？", "kind", "money"),  # a bare "how big" is made specific by the question
    ],
)
def test_constraints_are_read_from_the_question(reader: Reader, question: str, field: str, value: object) -> None:
    r = reader.read(question)
    got = getattr(r, field) if hasattr(r, field) else getattr(r.asks[0], field)
    assert got == value


def test_the_earliest_date_is_what_a_when_question_asks_not_a_superlative_the_evidence_must_say(reader: Reader) -> None:
    when = reader.read("苏州最早是哪一年设立河长制的？").asks[0]
    assert when.kind == "year" and not when.superlative and "最早" not in when.terms
    which = reader.read("哪个城市最早设立河长制？").asks[0]  # no date asked: the evidence must single a city out
    assert which.superlative and "最早" in which.terms


def test_a_title_no_document_has_or_mentions_is_named(reader: Reader) -> None:
    assert reader.read("《长江保护法》什么时候施行？").absent == "《长江保护法》"
    assert reader.read("《太湖治理规划》是哪年发布的？").absent == ""  # a document mentions it
    assert reader.read("When did the Yellow River Protection Law take effect?").absent.startswith("Yellow River")
    assert reader.read("When did the Water Law take effect?").absent == ""


def test_english_questions_carry_the_chinese_of_known_words_in_each_part(reader: Reader) -> None:
    r = reader.read("How long is the river in Suzhou? And in Wuxi?")
    assert r.english and len(r.asks) == 2
    assert "苏州" in r.asks[0].text and "无锡" in r.asks[1].text and r.asks[0].places == ["苏州"]


def test_coordinated_english_names_become_one_ask_each(reader: Reader) -> None:
    r = reader.read("The plan covers Suzhou and Wuxi. How long is the river of each?")
    assert [a.places for a in r.asks] == [["苏州"], ["无锡"]]
    assert reader.read("How long are the river and the canal of Suzhou?").asks[0].places == ["苏州"]  # not names
    assert reader.read("What is its length?").intent == "fact"  # "what is its …" asks a fact, not a definition


def test_an_english_region_name_is_read_whole_not_as_the_places_in_it(reader: Reader) -> None:
    ask = reader.read("How long are the rivers of the Suzhou-Wuxi-Changzhou region?").asks[0]
    assert "苏锡常" in ask.text and ask.places == []  # not three places the evidence must each name


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        (["2021年苏州的河道总长是多少？", "那无锡呢？"], "2021年无锡的河道总长是多少？"),
        (["《水法》什么时候施行？", "《苏州河道条例》呢？"], "《苏州河道条例》什么时候施行？"),
        (["苏州的河道总长是多少？", "是哪一条？"], "苏州的河道总长是多少？"),
    ],
)
def test_follow_ups_are_rewritten_from_the_previous_question(reader: Reader, turns: list[str], expected: str) -> None:
    previous, question = turns
    ask = reader.read(question).asks[0]
    assert is_follow_up(question, ask)
    assert resolve(question, ask, previous, reader.read(previous).asks[0], reader.names) == expected


def test_a_self_contained_question_is_not_a_follow_up(reader: Reader) -> None:
    question = "2021年无锡的河道总长是多少？"
    assert not is_follow_up(question, reader.read(question).asks[0])


def test_a_title_is_named_with_ai_for_its_written_out_form() -> None:
    lexicon = Lexicon(titles={"ai-rules": ["苏州市人工智能产业条例", "人工智能产业条例"]}, places=["苏州"], headings=[], english={})
    ask = Reader(lexicon, "苏州 人工智能").read("苏州那部AI产业条例对企业有什么要求？").asks[0]
    assert ask.doc_ids == ["ai-rules"] and "ai" not in ask.terms  # the name's words are not what is asked


def test_coordinated_items_keep_the_word_they_both_begin_with(reader: Reader) -> None:
    r = reader.read("在苏州，受治安管理处罚和受刑事处罚的河道管理人员分别怎么处理？")
    assert [a.focus for a in r.asks] == ["受治安管理处罚", "受刑事处罚"]
    assert not any("受受" in a.text for a in r.asks)


def test_a_conjunction_inside_a_word_coordinates_nothing(reader: Reader) -> None:
    r = reader.read("苏州对不同等级的河道分别怎么管理？")
    assert len(r.asks) == 1 and r.asks[0].focus == "" and "不同" in r.asks[0].text


def test_a_later_part_without_a_question_word_adds_no_ask(reader: Reader) -> None:
    r = reader.read("苏州的河道保护措施有哪些？简单概括一下。")
    assert len(r.asks) == 1 and r.intent == "open"
    assert len(reader.read("苏州的河道有多长？排第几？").asks) == 2  # a short question still asks


@pytest.mark.parametrize(
    ("text", "held"),
    [
        ("苏州治水企业达1432家。", True),
        ("苏州诞生了30余家治水企业。", True),
        ("苏州有十家治水企业。", True),
        ("2021年苏州推出了治水系统2.0。", False),  # a year and a version are not a count of firms
        ("苏州治水企业数量居全国首位。", False),
    ],
)
def test_a_count_asked_in_a_measure_word_is_held_only_by_a_figure_in_it(text: str, held: bool) -> None:
    assert holds_kind(text, "count", "家") is held


@pytest.mark.parametrize(
    ("text", "currency", "held"),
    [
        ("苏州治水投资达到82亿美元。", "元", False),  # a dollar figure does not answer a question asked in yuan
        ("苏州治水投资从154亿元增长至1963亿元。", "元", True),
        ("苏州治水投资达到82亿美元。", "美元", True),
        ("苏州治水投资达到1963亿元。", "美元", False),
    ],
)
def test_a_sum_asked_in_a_currency_is_held_only_by_a_figure_in_it(text: str, currency: str, held: bool) -> None:
    assert holds_kind(text, "money", currency) is held


@pytest.mark.parametrize(
    ("text", "held"),
    [
        ("苏州河道年报于10月29日发布。", True),
        ("河道管理部门应当于每年上半年发布上一年度的治理报告。", True),  # a part of the year answers "when"
        ("苏州每季度公布一次水质。", True),
        ("2022年初，苏州河道治理工程最受关注。", False),  # a year's start is not when it happened
        ("苏州于2021年开始河长制。", False),  # a year alone is asked by "哪一年"
    ],
)
def test_a_when_question_is_held_by_a_month_a_day_or_a_part_of_the_year(text: str, held: bool) -> None:
    assert holds_kind(text, "date") is held


def test_only_the_words_of_the_name_the_question_says_leave_its_terms(reader: Reader) -> None:
    ask = reader.read("苏州河道条例规定由哪个部门负责管理？").asks[0]
    assert "河道" not in ask.terms  # a word of the name it is named by: retrieval's business
    assert "管理" in ask.terms  # a word of its full title, not said in the name: asked


def test_a_latin_name_in_a_chinese_question_is_asked_but_english_words_are_not(reader: Reader) -> None:
    assert "apec" in reader.read("2022年APEC会议在苏州哪里举行？").asks[0].terms
    assert not {"where", "meeting"} & set(reader.read("Where was the river meeting held in Suzhou?").asks[0].terms)


def test_a_later_part_naming_no_place_or_year_keeps_the_first_parts(reader: Reader) -> None:
    r = reader.read("2021年苏州的治水企业有多少家？河道管理专利授权量是多少？")
    assert (r.asks[1].places, r.asks[1].years) == (["苏州"], ["2021"])
    r = reader.read("2021年苏州的治水企业有多少家？全球的河道专利授权量是多少？")
    assert (r.asks[1].places, r.asks[1].years) == ([], [])  # a scope of its own: not the first part's place


def test_how_to_answer_is_read_into_the_intent_and_not_searched_for(reader: Reader) -> None:
    r = reader.read("请简单概括一下苏州的河道保护措施。")
    assert r.intent == "open"
    assert "概括" not in r.asks[0].text and "请" not in r.asks[0].terms and "河道" in r.asks[0].terms


@pytest.mark.parametrize(
    ("text", "held"),
    [
        ("2022年的会议在美国新奥尔良举行。", True),
        ("2022年的会议如期举行，规模创新高。", False),  # no place: it does not say where
    ],
)
def test_a_where_question_is_held_by_a_place_name(text: str, held: bool) -> None:
    assert holds_kind(text, "place") is held


def test_a_rate_may_be_per_mille() -> None:
    assert holds_kind("苏州的出生率降至7.52‰。", "percent")


def test_a_later_part_keeps_the_subject_but_not_how_the_first_part_asked(reader: Reader) -> None:
    later = reader.read("《水法》最早是哪一年通过的？又从什么时候开始施行？").asks[1]
    assert "水法" in later.text and "最早" not in later.text and not later.superlative
