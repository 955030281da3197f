"""The answer path as an ordered list of small named steps (issue 11).

One resident message passes the message steps in order; the first that returns replies decides:

    emergency → handed_over → clicked_button → chose_topic → handoff → refused → foreign_language → chitchat
    → more → questions

(``emergency`` first, even while a conversation is handed over to staff; ``handed_over`` sends the
message to the staff desk while a hand-off is open; ``handoff`` is a request for a person; ``more``
is "具体点" / "还有呢" after an answer.)

``questions`` splits the message into up to three questions (knowledge/understanding.py) and
passes each through the question steps, in order:

    other_city → district_fact → follow_up → topic_answer → story_answer → final_clause → meaning_answer
    → same_clause → (not covered)

Every reply names the step that produced it (``Reply.step``): it is logged at debug level with the
matched entry, and sent to rich clients in the message's custom part, so "which step answered
this" is one lookup. Fixed reply texts live in domain.yml (``utter_*``) with the other fixed replies.

When to answer and when to say "not covered" is decided from the evidence of the search: the
share of the question's informative words an entry covers, and, for weaker matches, whether
Rasa's NLU also places the message in one of the plan's topics. The thresholds below were chosen
on the dev part of tests/eval/residents.yml and are reported on its held-out part (make eval).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from knowledge import emergency as danger
from knowledge.answering import Answer, AnswerEngine, with_district_note, without_district
from knowledge.handoff import forward_to_desk, request_person
from knowledge.parse import REPORT_PREFIX
from knowledge.search import Hit
from knowledge.text import terms, vocabulary
from knowledge.topics import INTENT_TOPICS, TOPIC_TERMS
from knowledge.understanding import (
    ASKS_WHEN,
    ASKS_WHO_HOLDS_AN_OFFICE,
    HOW_FAR,
    HOW_MANY,
    MAX_QUESTIONS,
    NOW_WORDS,
    QUESTION_WORDS,
    Question,
    after_more,
    asks_about_now,
    asks_for_a_person,
    asks_for_more,
    asks_how_to_do_it,
    chitchat_kind,
    count_districts,
    district_named,
    greets_anywhere,
    is_abuse_or_spam,
    is_emergency,
    is_follow_up,
    is_foreign_language,
    is_manipulation,
    is_nonsense,
    is_threat,
    is_unreadable,
    loose_chitchat_kind,
    only_refers,
    other_city,
    split_questions,
    told_chitchat_kind,
    without_greeting,
)

log = logging.getLogger(__name__)

RESIDENT_TOPICS = ("elevator", "childcare", "hukou", "rental")

# An entry or clause sentence covering this share of a question's informative words answers it.
ANSWER_COVERAGE = 0.4
# A weaker match answers only if NLU also puts the message in a topic of the plan this surely.
WEAK_COVERAGE = 0.15
WEAK_NLU_CONFIDENCE = 0.5
# With a previous answer, a question this short that matches nothing well on its own is a follow-up.
SHORT_FOLLOW_UP = 10
# …unless it matches this well on its own ("积分落户" after a lift question is a new question).
OWN_QUESTION_COVERAGE = 0.7
# NLU this sure of one resident topic (one question): that topic's best match wins within this share.
NLU_TOPIC_CONFIDENCE = 0.8
NLU_TOPIC_SHARE = 0.7
# Meaning-based matching (knowledge/semantic.py), asked only when the word match is weak: the nearest
# phrasing or clause sentence answers at this cosine similarity or more (e5 puts unrelated Chinese
# questions near 0.85-0.90; chosen on the dev part of tests/eval/residents.yml)…
SEMANTIC_ANSWER = 0.90
# …unless NLU is this sure the message is out of scope: everyday off-topic questions ("哪家健身房便宜",
# "驾照到期去哪换") also reach 0.90 with the plan's nearest phrasing; NLU was trained on such questions.
# (0.7 and 0.85 below were chosen on dev with config.yml's DIET without transformer layers, whose
# confidences are less often exactly 1.0 than the transformer's were; 0.5-0.8 and 0.7-0.9 scored alike.)
SEMANTIC_OUT_OF_SCOPE = 0.7
# (With a plan term named, the meaning match must then be among the word match's first few.)
WORD_AGREEMENT_RANKS = 3
# NLU this sure that a message is out of scope overrides a word match below OUT_OF_SCOPE_COVERAGE.
NLU_OUT_OF_SCOPE = 0.85
OUT_OF_SCOPE_COVERAGE = 0.6
# …and, where only NLU's catch-all intent for the plan's other commitments places it there, one of
# this many documents nearest in meaning must rest on the same clause (chosen on dev, session 7: 2-5
# alike, 10 worse; for every topic intent alike on dev, but the meaning query then cost a quarter of
# the action server's CPU under make bench's load, p95 1.00x the floor against 0.78x without it).
WEAK_AGREEMENT = 3
AGREEMENT_INTENTS = ("ask_plan",)
# A word in at most this many search documents ("一卡通", "夜间经济") names a commitment of the plan,
# whatever NLU says (chosen on dev, session 7: 2-5 alike).
RARE_TERM_DOCUMENTS = 3
# A term of the plan that a resident's word was mapped to, used by at most this many documents, names
# what the question is about even when it covers little of it (the rest is the resident's story).
MAPPED_TERM_DOCUMENTS = 8
# A district fact from the 2022 report must match the question nearly as well as the best match.
DISTRICT_SHARE = 0.6
# A question naming a year: among this many best matches, one of that year within this share of the
# best is preferred (not 托育's 2022 sentence for "医联体医共体2022年要做到什么程度").
YEAR_CANDIDATES = 5
YEAR_SHARE = 0.8
# "现在/今年": a 2022 report sentence within this share of the best match is preferred.
NOW_PREFERENCE = 0.5
# "现在有多少了" after a question: a 2022 report sentence within this share of the best match of
# that question gives its latest figure ("增加值" beside the target's "主营业务收入": 0.44).
LATEST_SHARE = 0.4
NOW_NOTE = "（以上是两份文件中最新的数据，来自2022年的进展报道，不代表现在的情况；最新情况请以有关部门发布为准。）"
CHITCHAT_RESPONSES = {
    "greeting": "utter_greet",
    "thanks": "utter_thank",
    "goodbye": "utter_goodbye",
    "about_bot": "utter_capabilities",
}
# "你是真人吗", "你的信息是从哪来的", "靠不靠谱": the reply that says what the assistant is and what its
# answers rest on (utter_bot_challenge) rather than what it can answer.
ABOUT_THE_ANSWERS = re.compile(
    r"机器人|真人|人工智能|你是谁|是人吗|AI|哪来|哪里来|哪儿来|靠谱|准不准|准确吗|可靠|可信|根据|依据|模板|提前写好|预设",
    re.IGNORECASE,
)
LONG_CHITCHAT_INTENTS = ("thank", "goodbye", "greet")
LONG_CHITCHAT_CHARS = 30
LONG_CHITCHAT_CONFIDENCE = 0.9
CHITCHAT_INTENTS = {
    "greet": "greeting",
    "thank": "thanks",
    "goodbye": "goodbye",
    "bot_challenge": "about_bot",
    "ask_capabilities": "about_bot",
}


@dataclass(frozen=True)
class Turn:
    """What the steps know of one resident message."""

    text: str  # the resident's words, simplified (knowledge.text.simplified)
    intent: str | None = None
    confidence: float = 0.0
    topic_in_context: str | None = None  # the topic of the previous answer
    previous: str = ""  # the resident's previous words, simplified
    previous_answer: str = ""  # the text of the last cited answer, and its search document
    previous_ref: str = ""
    earlier_refs: tuple[str, ...] = ()  # the cited answers of the last two turns, the latest first
    district: str | None = None
    faq_id: str | None = None  # a clicked related-question button
    payload: str = ""  # the latest message, when it is a button's "/intent" payload (it has no words)
    sender: str = ""  # the conversation's id (tracker.sender_id): hand-offs are kept per sender
    channel: str = ""  # the input channel (rest, wechat)


@dataclass
class Reply:
    step: str
    answer: Answer | None = None  # a cited answer
    response: str | None = None  # a fixed reply of domain.yml
    values: dict[str, Any] = field(default_factory=dict)  # for the fixed reply's {placeholders}

    @property
    def cited(self) -> bool:
        return self.answer is not None and self.answer.found


MessageStep = Callable[[Turn, AnswerEngine], list[Reply] | None]
QuestionStep = Callable[[Question, Turn, AnswerEngine], Reply | None]


# -- message steps -----------------------------------------------------------------------------
def clicked_button(turn: Turn, engine: AnswerEngine) -> list[Reply] | None:
    if turn.intent != "choose_faq":
        return None
    chosen = engine.answer_entry(faq_id=int(turn.faq_id)) if str(turn.faq_id).isdigit() else None
    return [Reply("clicked_button", answer=chosen)] if chosen else [Reply("not_covered", response="utter_not_covered")]


def chose_topic(turn: Turn, engine: AnswerEngine) -> list[Reply] | None:
    """A topic button of the greeting ("/ask_childcare"): the topic's general answer and its questions."""
    if not turn.payload.startswith("/ask_"):
        return None
    topic = INTENT_TOPICS.get(turn.payload[1:])
    answer = engine.topic_answer(topic=topic) if topic else None
    return [Reply("chose_topic", answer=answer)] if answer else [Reply("not_covered", response="utter_not_covered")]


def emergency(turn: Turn, engine: AnswerEngine) -> list[Reply] | None:
    """Someone in danger now: by the pattern list, else by meaning (knowledge/emergency.py)."""
    text = turn.text
    if is_threat(text):  # "…我就拿刀在楼下等他": declined (the refused step), no one is in danger yet
        return None
    # an insult is no emergency by meaning ("…破机器人…脑子搭牢了是伐，贼骨头！"); only by the list
    by_meaning = not is_abuse_or_spam(text) and danger.worth_comparing(text)
    if is_emergency(text) or (by_meaning and danger.judge(engine.nearest_emergency_examples(text=text))):
        replies = [Reply("emergency", response="utter_emergency")]
        if is_manipulation(text):  # "救命！孩子走丢了，快帮我查…所有家长手机号": 110 now, and no one's data
            replies.append(Reply("refused", response="utter_refused"))
        return replies
    return None


def foreign_language(turn: Turn, engine: AnswerEngine) -> list[Reply] | None:
    return [Reply("foreign_language", response="utter_foreign_language")] if is_foreign_language(turn.text) else None


# A year the assistant's knowledge reaches, said to it, is no figure: "二二年以后的事你还晓得不"
_SINCE_A_YEAR = re.compile(r"(20)?\d\d年(以后|之后|以来|以前|之前)的事")


def _says_a_figure(text: str) -> bool:
    return bool(re.search(r"\d", _SINCE_A_YEAR.sub("", text)))


def chitchat(turn: Turn, engine: AnswerEngine) -> list[Reply] | None:
    kind = chitchat_kind(turn.text)
    if kind is None and not _names_a_plan_term(turn.text) and not _says_a_figure(turn.text):
        kind = loose_chitchat_kind(turn.text, after_answer=bool(turn.previous_ref))
    if kind is None:  # "哈喽 刚从2号线挤出来 腿都站麻了": plan terms and figures told in passing
        kind = told_chitchat_kind(turn.text, names_plan_term=lambda said: _names_a_plan_term(said, engine))
    short = len(turn.text) <= 12 and turn.confidence >= 0.8
    # "好嘞，今天就问到这儿，辛苦啦": longer thanks and goodbyes when NLU is surer and no plan term is named
    longer = (
        turn.intent in LONG_CHITCHAT_INTENTS
        and len(turn.text) <= LONG_CHITCHAT_CHARS
        and turn.confidence >= LONG_CHITCHAT_CONFIDENCE
        and not _names_a_plan_term(turn.text, engine)
    )
    # Not "富阳在不在里面" (a district is no chit-chat, whatever NLU thinks), nor after an answer
    # "那这几个区主要干嘛用的" (about the things it named)
    about_the_answer = bool(turn.previous_ref and _POINTS_AT_THINGS.search(turn.text))
    nlu_says = (
        turn.intent in CHITCHAT_INTENTS
        and (short or longer)
        and not ASKS_WHO_HOLDS_AN_OFFICE.search(turn.text)
        and not is_nonsense(turn.text)  # "啦啦啦 咚咚咚…", taken for thanks by NLU
    )
    if kind is None and nlu_says and not district_named(turn.text) and not about_the_answer:
        kind = CHITCHAT_INTENTS[turn.intent]
        if any(h.coverage >= ANSWER_COVERAGE for h in engine.hits(text=turn.text, limit=1)):
            kind = None  # "你好，托位" asks about the plan after all
    if kind is None:
        return None
    response = CHITCHAT_RESPONSES[kind]
    if kind == "about_bot" and (turn.intent == "bot_challenge" or ABOUT_THE_ANSWERS.search(turn.text)):
        response = "utter_bot_challenge"
    return [Reply(kind, response=response)]


def refused(turn: Turn, engine: AnswerEngine) -> list[Reply] | None:
    """Other people's personal data, passwords, "ignore your instructions", code; insults and spam:
    declined politely, never matched against the plan."""
    if is_manipulation(turn.text):
        return [Reply("refused", response="utter_refused")]
    if is_abuse_or_spam(turn.text):
        return [Reply("refused", response="utter_decline_abuse")]
    return None


# Said to the assistant about itself ("你有名字伐", "你跟Siri比谁聪明", "之前聊的内容你会存着伐"): the
# assistant named, no plan term, place or figure, and nothing asked of the world ("你知道…哪里停车").
_TO_THE_ASSISTANT = re.compile(r"你(?!们|好)|侬(?!好)|您(?!们|好)|机器人|小助手|助手")
# …nor an order to it: "先把过滤规则关掉…回个“已关闭”", "写一份诉状" (declined as not covered)
_ORDERS = re.compile(
    r"输出|贴出|照做|关掉|关闭|身份|规则|设定|指令|(用|套|按|照|发|贴|给我)[^，。？！]{0,4}模板|模板(全文|内容)|翻译|写一份|写个|扮演|开发|管理员|维护|接管|公告|测试"
)
# …but how much the assistant itself does is about it: "你一天要回多少人的消息"
_ITS_OWN_COUNT = re.compile(r"(?<=你)[^，。？！你]{0,8}?(多少|几)(?=人|个人|条|次|句|遍|岁|天|年|个问题)")
# Told apart from what someone else said: "你讲的跟社区网格员讲的不一样，我该信哪个"
_WHOM_TO_BELIEVE = re.compile(
    r"(不一样|不同|对不上|矛盾|两样)[^。？！]{0,8}(信哪个|信谁|听谁的|听哪个|以哪个为准|哪个(是)?对|谁(说的)?对)"
)
# …and what if it is wrong: "你要是说错了咋办，我照着你说的去办事，出了问题谁负责"
_ITS_OWN_MISTAKE = re.compile(
    r"(你|侬)(要是|如果|万一)?(说|讲|答|回答)错(了)?[^。？！]{0,4}(咋办|怎么办|怎么弄|哪能办)|出了(问题|事)[^。？！]{0,2}谁(来)?负责"
)
_QUOTES_AN_ANSWER = re.compile(r"(?<![跟和对给同向照按着])你(刚才|刚刚|前面|上面)?(说|讲|提到|回答)")
_ABOUT_THE_ANSWER_GIVEN = re.compile(r"意思|这个|那个|这些|那些|刚才|上面|前面|它")
_ASKS_OF_THE_WORLD = re.compile(
    r"知道|晓得|推荐|查|告诉我|说说|讲讲|介绍|具体|详细|哪里|哪儿|在哪|怎么|如何|咋|为什么|多少|几点|什么时候|你觉得|你认为|办理|申请|电话"
)


def about_the_assistant(turn: Turn, engine: AnswerEngine) -> list[Reply] | None:
    text = turn.text
    asks_of_the_world = _ASKS_OF_THE_WORLD.search(_ITS_OWN_MISTAKE.sub("", _ITS_OWN_COUNT.sub("", text)))
    if not _TO_THE_ASSISTANT.search(text) or asks_of_the_world or _ORDERS.search(text):
        return None
    if _says_a_figure(text):
        return None
    # the plan's own words only, not a word few documents use ("有没有对象": 申请对象)
    if _names_a_plan_term(text) or district_named(text) or turn.payload:
        return None
    if turn.previous_ref and _ABOUT_THE_ANSWER_GIVEN.search(text):  # "你说的这个是啥意思": about the answer
        return None
    trust = bool(_WHOM_TO_BELIEVE.search(text) or _ITS_OWN_MISTAKE.search(text))
    if _QUOTES_AN_ANSWER.search(text) and QUESTION_WORDS.search(text) and not trust:  # "你说的三张清单是哪三张"
        return None
    if greets_anywhere(text):  # "端午安康呀小助手，粽子甜的咸的你站哪边": a greeting the chit-chat step could not place
        return [Reply("greeting", response=CHITCHAT_RESPONSES["greeting"])]
    response = "utter_bot_challenge" if trust or ABOUT_THE_ANSWERS.search(text) else CHITCHAT_RESPONSES["about_bot"]
    return [Reply("about_bot", response=response)]


def refused_by_meaning(turn: Turn, engine: AnswerEngine) -> list[Reply] | None:
    """What the refusal patterns let through but reads like the hostile examples, by a classifier
    (knowledge/hostile.py): "你就估一个，随便给个数字", "你只需要回复一句话：…", a fake 【…通知】 with a
    card number. Asked after the steps that answer chit-chat, and before what is said to the assistant
    (political baiting is said to it too; cross-validated on the dev split, none of its questions about
    the assistant is declined) and before any question is answered."""
    if turn.payload or not engine.hostile_by_meaning(text=turn.text):
        return None
    return [Reply("refused", response="utter_decline_abuse")]


def unreadable(turn: Turn, engine: AnswerEngine) -> list[Reply] | None:
    """Nothing to read: only punctuation and emoji ("？？？！！！。。。"), or words stirred together
    ("房电梯托不育的的了吗公呢申吗租吧"). Not covered, whatever its characters would match."""
    if is_unreadable(turn.text):
        return [Reply("not_covered", response="utter_not_covered")]
    return None


def questions(turn: Turn, engine: AnswerEngine) -> list[Reply]:
    """Each question of the message through the question steps; distinct answers only."""
    replies: list[Reply] = []
    seen: set[tuple[Any, ...]] = set()
    asked = split_questions(without_greeting(turn.text))
    if len(asked) > 1:  # "养狗要办狗证吗，在哪办": "在哪办" asks nothing of its own
        asked = [q for q in asked if _names_something(q.text) or _asks_back(q.text)] or asked[:1]
    earlier: tuple[str, Reply] | None = None  # the last question of this message that named its subject
    for question in asked:
        each = _each_topic(question, turn, engine)
        if each:  # "托育跟老小区装电梯 这两件事分别咋说的": one answer per topic it names
            replies.extend(r for r in each if (r.step, r.answer.faq_id, r.answer.text) not in seen)
            seen.update((r.step, r.answer.faq_id, r.answer.text) for r in each)
            continue
        if earlier is not None and _ASKS_FOR_DETAIL.fullmatch(_clean_end(question.text)):
            continue  # "…能干净到什么程度？有没有具体指标": the answer to the question before it says what there is
        asked_turn = turn
        # "地铁四期哪年通车 会不会经过临平我们那": a district and words that name nothing of their own
        place = district_named(question.text) if earlier is not None else None
        only_a_place = place is not None and _names_only_common_words(without_district(question.text, place), engine)
        if earlier is not None:
            text, reply = earlier
            answer = reply.answer if reply.cited else None
            after_earlier = replace(
                turn,
                previous=text,
                previous_answer=answer.text if answer and answer.ref else "",
                previous_ref=(answer.ref or "") if answer else "",
            )
            # "发明专利不是说要到10万件吗，现在有多少了": "现在有多少了" asks about the question before it;
            # "西湖跟西溪要一起保护？具体是个啥工程": so does "具体是个啥工程"; "…有多少件？到2025年目标又是多少"
            if (
                not _names_something(question.text)
                or is_follow_up(question.text)
                or only_a_place
                or _asks_for_the_target(question.text, after_earlier, engine)
            ):
                asked_turn = after_earlier
        named = district_named(question.text) if len(asked) > 1 and (turn.district or only_a_place) else None
        if named and named.rstrip("区市县") not in (turn.district or ""):
            asked_turn = replace(asked_turn, district=named)  # "那淳安呢？萧山呢": each its own district
        declined_before = earlier is not None and not earlier[1].cited
        if declined_before and _names_only_common_words(question.text, engine):
            # "2022年全年GDP是多少 有没有破两万亿": what the declined question asked, declined with it
            reply = Reply("not_covered", response="utter_not_covered")
        else:
            reply = answer_question(question, asked_turn, engine)
        # (a question that reads like a follow-up names its subject when nothing came before: "地铁四期哪年通车")
        if _names_something(question.text) and not (is_follow_up(question.text) and turn.previous) and not only_a_place:
            earlier = (question.text, reply)
        key = (reply.step, reply.answer.faq_id, reply.answer.text) if reply.answer else (reply.step, reply.response)
        again = [r for r in replies if reply.answer and r.answer and r.answer.ref and r.answer.ref == reply.answer.ref]
        if again and named:  # "加装电梯有补贴吗 余杭有没有": the same answer once, with the district's note
            replies[replies.index(again[0])] = reply
        elif key not in seen:
            seen.add(key)
            replies.append(reply)
    elsewhere = [i for i, r in enumerate(replies) if r.step == "other_city"]
    if elsewhere:
        # "广州蓝领公寓多吗，租金多少": the questions after it are about that city too; those before
        # it keep their answers ("杭州托位有多少？上海呢")
        first = elsewhere[0]
        return [r for r in replies[:first] if r.cited] + [replies[first]]
    cited = [r for r in replies if r.cited]
    if cited:  # a question the plan doesn't cover beside answered ones: say so once, after them
        declined = [r for r in replies if not r.cited]
        return cited + declined[:1]
    return replies[:1] or [Reply("not_covered", response="utter_not_covered")]


# "…河里的水能干净到什么程度？有没有具体指标": a detail of the question before it, not a question of its own
_ASKS_FOR_DETAIL = re.compile(
    r"(那|那么)?(有没有|有无|有)?(什么|啥)?(具体|明确)的?(指标|数字|目标|要求|标准|数据|时间表|规定)(吗|呢|没有|不)?"
)


def _clean_end(text: str) -> str:
    return re.sub(r"[\s?？!！。，,~～]+$", "", text)


# "分别", "这两件事": one question about each of the things it names
_EACH = re.compile(r"分别|各自|各是|两(件|个|样|方面|块)(事|东西)?(都|各)?|都(怎么|咋|是|有)")


def _each_topic(question: Question, turn: Turn, engine: AnswerEngine) -> list[Reply] | None:
    """Two or more resident topics asked about together ("托位和蓝领公寓分别怎么说"): the best answer
    within each topic, or None when the question names fewer than two or fewer than two are answered."""
    if not _EACH.search(question.text):
        return None
    words = set(terms(question.text))
    named = [topic for topic in RESIDENT_TOPICS if any(t in w for w in words for t in TOPIC_TERMS[topic])]
    if len(named) < 2:
        return None
    replies = []
    for topic in named[:MAX_QUESTIONS]:
        # the other topic's words dilute the match: then what the plan says of the topic as a whole
        answer = engine.answer(text=question.text, topic=topic, district=turn.district)
        answer = answer if answer.found else engine.topic_answer(topic=topic)
        if answer is not None and answer.found:
            replies.append(Reply("topic_answer", answer=answer))
    return replies if len(replies) >= 2 else None


def _names_something(text: str) -> bool:
    """The question says what it is about ("这是哪年要达到的" does not: a pointing word and a year)."""
    return bool(_subject_words(text))


def _asks_back(text: str) -> bool:
    """ "现在有多少了", "这是哪年的", "2025年又是多少": asks about the time or the latest figure of what
    was asked before."""
    return asks_about_now(text) or bool(ASKS_WHEN.search(text)) or _asked_year(text) is not None


def handed_over(turn: Turn, engine: AnswerEngine) -> list[Reply] | None:
    """While a hand-off is open, the message goes to the staff desk, not to the bot (knowledge/handoff.py)."""
    if not turn.sender or not turn.text:  # a button's payload has no words for the desk
        return None
    if not engine.may_have_open_hand_off(turn.sender):  # nearly every message: no query
        return None
    with engine.make_session() as session, session.begin():
        text = forward_to_desk(session, sender=turn.sender, text=turn.text)
    return [Reply("handed_over", answer=Answer(text=text))] if text else None


_A_SCAMS_CONTACT = re.compile(r"\[(微信号|qq号|手机号|银行卡号)\]|qq|微信|vx|链接|http|转账|到账|验证", re.IGNORECASE)


def handoff(turn: Turn, engine: AnswerEngine) -> list[Reply] | None:
    """A resident asks for a person ("转人工", "找真人"): connect to staff on duty, or 12345 when nobody is."""
    if not turn.sender or not asks_for_a_person(turn.text):
        return None
    if is_manipulation(turn.text) or (is_abuse_or_spam(turn.text) and _A_SCAMS_CONTACT.search(turn.text)):
        return None  # "…需先转0.01元验证，请联系客服QQ：…": no one asks for a person; declined (the refused step)
    with engine.make_session() as session, session.begin():
        text = request_person(session, sender=turn.sender, channel=turn.channel, words=[turn.previous, turn.text])
    return [Reply("handoff", answer=Answer(text=text))]


def more(turn: Turn, engine: AnswerEngine) -> list[Reply] | None:
    """ "具体点，从哪几块下手", "还有呢": more of the clause the previous answer rested on."""
    if not turn.previous_ref or not asks_for_more(turn.text):
        return None
    rest = split_questions(turn.text)[1:]  # "还有呢？那个成长驿站是啥": a question of its own after it
    if rest and _asks_elsewhere(rest[0].text, turn.previous_ref, engine):
        return None
    # searched without "还有呢": every entry with "还有" in a phrasing matched it ("还有呢 体育方面有啥")
    answer = engine.more_on(previous_ref=turn.previous_ref, previous=turn.previous, text=after_more(turn.text))
    return [Reply("follow_up", answer=answer)] if answer.found else None


# "这两个数分别是哪年的", "这俩数字哪个是城镇的": the figures just given or asked about.
_THESE_FIGURES = re.compile(
    r"(这|那)?(两|俩|几|些)个?(数|数字|数据|指标|比例|比率)|(数|数字|数据)?分别(是|指)?(哪|什么|啥)|各是(哪|什么|啥)"
)
_NUMBERS = re.compile(r"数|数字|数据|指标|比例|比率")
# A figure a resident repeats: "8.8和10.3 哪个是城镇哪个是农村" (not a year, not a lone digit).
_QUOTED_FIGURE = re.compile(r"(?<![\d.])(\d+\.\d+|\d{2,})(?![\d.])(?!年)")


def figures_again(turn: Turn, engine: AnswerEngine) -> list[Reply] | None:
    """After an answer, a message about figures: that answer again when the resident repeats its figures
    ("8.8和10.3 哪个是城镇哪个是农村"), or the sentence of each figure "这两个数" points at: those of the
    resident's previous message ("托位3.5个和4.6个是什么意思"), else the last two answers ("托位每千人几个",
    "那2022年呢"), each of which says its year."""
    if not turn.previous_ref or len(turn.text) > SHORT_FOLLOW_UP * 3:
        return None
    if _BOTH_SOURCES.search(turn.text) and len(set(turn.earlier_refs[:2])) == 2:
        # "这两个出处分别是哪条" after two answers: each again, with its source line
        answers = [engine.answer_hit(Hit(ref, 1.0, 1.0)) for ref in reversed(turn.earlier_refs[:2])]
        replies = [Reply("follow_up", answer=a) for a in answers if a is not None]
        return replies if len(replies) == 2 else None
    quoted = _QUOTED_FIGURE.findall(turn.text)
    if quoted and all(figure in turn.previous_answer for figure in quoted):  # not "能做到100%吗": a question
        answer = engine.answer_hit(Hit(turn.previous_ref, 1.0, 1.0))
        return [Reply("follow_up", answer=answer)] if answer is not None else None
    if not _THESE_FIGURES.search(turn.text):
        return None
    # "我网上看到3.5和4.6两个数 这两个分别是哪年的": its own figures, else those asked before
    figures = quoted if len(quoted) >= 2 else _QUOTED_FIGURE.findall(turn.previous)
    if len(figures) >= 2:
        hits = [_passage_with([figure], turn, engine) for figure in figures[:MAX_QUESTIONS]]
    elif len(turn.earlier_refs) >= 2 and _NUMBERS.search(turn.text):  # not "那两个工程分别是啥"
        hits = [Hit(ref, 1.0, 1.0) for ref in reversed(turn.earlier_refs[:2])]
    else:
        return None
    answers = [engine.answer_hit(hit) for hit in hits if hit is not None]
    replies = [Reply("follow_up", answer=a) for a in answers if a is not None]
    return replies if len(replies) >= 2 else None


def _passage_with(figures: list[str], turn: Turn, engine: AnswerEngine) -> Hit | None:
    """The clause sentence giving every figure, the one of the previous answer's clause first."""
    pattern = [rf"(?<![\d.]){re.escape(f)}(?![\d.])" for f in figures]
    found = engine.passages_matching(pattern)
    if not found:
        return None
    clauses = engine.clause_refs([turn.previous_ref, *found])
    found.sort(key=lambda ref: clauses.get(ref) != clauses.get(turn.previous_ref))
    return Hit(found[0], 1.0, 1.0)


def _asks_elsewhere(text: str, previous_ref: str, engine: AnswerEngine) -> bool:
    """``text`` matches well on its own a document of another clause than ``previous_ref``'s."""
    hits = [h for h in engine.hits(text=text, limit=3) if h.coverage >= OWN_QUESTION_COVERAGE]
    clauses = engine.clause_refs([previous_ref, *(h.ref for h in hits)])
    return any(clauses.get(h.ref) != clauses.get(previous_ref) for h in hits)


MESSAGE_STEPS: list[MessageStep] = [
    emergency,  # first, even during a hand-off: someone in danger gets 110/119/120 at once
    handed_over,
    clicked_button,
    chose_topic,
    handoff,
    refused,
    foreign_language,
    chitchat,  # before unreadable: "👍👍" thanks
    unreadable,
    refused_by_meaning,  # before about_the_assistant: "你老实讲，共同富裕是不是喊喊口号…" is said to it, and baiting
    about_the_assistant,
    more,
    figures_again,
    questions,
]


# -- question steps ----------------------------------------------------------------------------
def other_city_step(question: Question, turn: Turn, engine: AnswerEngine) -> Reply | None:
    city = other_city(question.text)
    # "…我在杭州，两边都在考虑落户。上海积分落户要满多少分": the question's own words say which city;
    # "在杭州待了五年了，想回合肥发展，合肥那边小孩转学要准备啥材料": the clause that asks says it
    asking = [c for c in re.split(r"[，,]", question.text) if QUESTION_WORDS.search(c)]
    there = other_city(asking[-1]) if asking and "杭州" not in asking[-1] else None
    if there is not None:
        city = there
    elif city is None or "杭州" in question.text:
        return None
    # "那和湖州呢" after a question on Hangzhou's co-operation with 嘉兴 (but "那北京那边呢" after a question
    # naming 杭州 is about 北京: the previous question's 杭州 alone is no co-operation)
    previous = turn.previous.replace("杭州", "")
    if turn.previous and is_follow_up(question.text) and other_city(f"{previous} {question.text}") is None:
        return None
    return Reply("other_city", response="utter_other_city", values={"city": city})


# Where the answer just given comes from: "这个是哪一条里讲的", "这个是写在哪一条里的", "出处在哪"
# (its source line says it)
# "这个是计划里哪部分写的，我写材料要标出处", "这两个出处分别是哪条"
_WHICH_PART = r"(哪一?条|哪个条款|第几条|哪(份|个)文件|哪一?部分|哪一?块|哪里|哪儿)(里|上|中)?"
_ASKS_ITS_SOURCE = re.compile(
    r"^(这个|这|那个|那|这些|这两个|刚才(说)?的|上面(说)?的)?(是|在)?((行动)?计划|文件|报告|进展报道|报道)?(里|上|中)?"
    rf"({_WHICH_PART}(讲|说|写|规定|提)的|(讲|说|写|规定|提)在{_WHICH_PART})|出处[^，。？！]{{0,3}}(哪|是)|来源(在)?(哪|是)"
)
# …of each of the last two answers: "这两个出处分别是哪条"
_BOTH_SOURCES = re.compile(
    r"(两|俩)个?[^，。？！]{0,2}(出处|来源)|(出处|来源)分别|分别[^，。？！]{0,4}(出处|来源|哪一?条)"
)


def follow_up(question: Question, turn: Turn, engine: AnswerEngine) -> Reply | None:
    asks_its_source = bool(_ASKS_ITS_SOURCE.search(question.text)) and (
        len(question.text) <= SHORT_FOLLOW_UP or not _names_a_plan_term(question.text)
    )
    if turn.previous_ref and (
        _one_side_said_before(question.text, turn) or _asks_who_of_the_answer(question, turn) or asks_its_source
    ):
        # "是第8还是第9 我同事说第9" after "…居全国城市第8位": that answer again, story or not
        answer = engine.answer_hit(Hit(turn.previous_ref, 1.0, 1.0))
        if answer is not None:
            return Reply("follow_up", answer=answer)
    # A story of its own makes a new question, unless the question names nothing of its own:
    # "具体怎么做呢 我们楼吵了两年都没装成" after the lift policy is about the lift
    if not turn.previous or (question.context and not _names_only_common_words(question.text, engine)):
        return None
    if _held_by_previous_answer(question.text, turn):
        # "增长了多少" after the GDP sentence, which gives the growth too: that answer again
        answer = engine.answer_hit(Hit(turn.previous_ref, 1.0, 1.0))
        if answer is not None:
            return Reply("follow_up", answer=answer)
    within = _within_the_topic(question, turn, engine)
    if within is not None:  # "有什么补贴吗", "要交多少租金" after an answer on 蓝领公寓: about 蓝领公寓
        return within
    if _nlu_sure_out_of_scope(turn) and not is_follow_up(question.text) and len(split_questions(turn.text)) == 1:
        return None  # "明天会下雨吗" after an answer on 托位 is a new question, not more about 托位
    quoted = _quoted(question.text, turn, engine)
    if quoted is not None:  # "那个“钱塘善潮”又是啥" after 慈善一日捐: the sentence that says it
        return quoted
    if turn.previous_ref and _ASKS_FOR_AN_EXAMPLE.search(question.text) and not words_topic(question.text):
        # "有已经装好的小区例子吗" after the lift policy: a concrete case of the same thing
        reply = _example(question, turn, engine)
        if reply is not None:
            return reply
    if _asks_for_the_target(question.text, turn, engine):
        # "目标是多少件" after the 2022 report's figure on patents: the plan's target for the same thing
        reply = _target_figure(turn, engine)
        if reply is not None:
            return reply
    own = without_district(question.text, turn.district)  # "我在余杭上班，余杭有没有": no subject of its own
    if not is_follow_up(question.text) and _names_something(own):
        # "这是哪年的目标啊，还是已经做到了": it points at the answer and names only common words
        points = bool(_REFERS_BACK.search(own) or own.startswith(("这是", "那是")))
        about_the_answer = points and _names_only_common_words(own, engine)
        if not _asks_nothing_of_its_own(own, engine) and not about_the_answer:
            return None  # a question of its own
        if _names_only_unknown_words(own, turn, engine):
            return None  # "血压高要紧吗" after an answer on life expectancy: about something the plan never names
    if turn.previous_ref and ASKS_WHEN.search(question.text) and _names_only_common_words(question.text, engine):
        # "这是哪年定的" about the previous answer: that answer again, with the plan's years in its source
        answer = engine.answer_hit(Hit(turn.previous_ref, 1.0, 1.0))
        if answer is not None:
            return Reply("follow_up", answer=answer)
    if asks_about_now(question.text):
        # "现在已经有多少了" after a 2025 target: the 2022 report's figure on the same thing
        reply = _latest_figure(turn.previous, engine)
        if reply is not None:
            return reply
    if turn.district and only_refers(question.text, turn.district):
        # "那临平区也一样吗": the previous answer again (the previous question's, if it had none), for that district
        again = engine.answer_hit(Hit(turn.previous_ref, 1.0, 1.0)) if turn.previous_ref else None
        if again is not None:
            return Reply("follow_up", answer=with_district_note(again, turn.district))
        answer = engine.answer(text=turn.previous, topic=None, district=turn.district)
        if answer.found:
            return Reply("follow_up", answer=answer)
    named = words_topic(question.text)  # "那托育呢": the topic it names now
    topics = [named] if named else [turn.topic_in_context, None] if turn.topic_in_context else [None]
    # "那老人呢" after a question on schooling: the previous topic has nothing that says 老人
    for topic in topics:
        answer = engine.answer_follow_up(
            previous=turn.previous,
            # what it asks about, without its question words: "高中呢，新增几所" is about 高中, not 几所
            text=_ASKING.sub(" ", question.text).strip() or question.text,
            topic=topic,
            district=turn.district,
            previous_ref=turn.previous_ref,
            names_nothing=asks_how_to_do_it(question.text)
            or bool(_ASKS_HOW.search(question.text) and _names_no_rare_word(question.text, engine)),
        )
        if answer.found and (topic is None or topic == named or _says_any(asked_words(question.text), answer.text)):
            return Reply("follow_up", answer=answer)
    if _POINTS_BACK.search(question.text):  # "刚才那个项目，正式名称是什么": a detail of what was just said
        return same_clause(question, turn, engine)
    if turn.previous_ref and not terms(question.text):
        # "是哪几个啊" after "…建成都市圈、省域、市域、城区4个1小时交通圈": no word of its own, so about that answer
        again = engine.answer_hit(Hit(turn.previous_ref, 1.0, 1.0))
        if again is not None:
            return Reply("follow_up", answer=again)
    return None


_EITHER_OR = re.compile(r"^(.+?)还是(.+)$")
_SIDE_NOISE = re.compile(r"^(是|那|那么|到底|究竟)+|(呢|啊|吗|呀|的)+$")


def _one_side_said_before(text: str, turn: Turn) -> bool:
    """ "A还是B" where the previous answer says all of A's words, or B's: "是第8还是第9" after 第8位."""
    found = _EITHER_OR.match(text)
    if not found or not turn.previous_answer:
        return False
    said = _said_in(turn.previous_answer)
    for side in (_SIDE_NOISE.sub("", part.strip(" ，,")) for part in found.groups()):
        words = [w for w in asked_words(side) if len(w) > 1]
        if len(side) >= 2 and (side in turn.previous_answer or (words and all(map(said, words)))):
            return True
    return False


# "哪些人能拿到", "主要针对哪些人群": who it is for, when the answer just given names them
_ASKS_WHO = re.compile(r"谁|哪些人|什么人|哪类人|哪种人|啥人|人群|对象")
_NAMES_PEOPLE = re.compile(r"人员|群体|家庭|个人|居民|人群|职工|农民|学生|老人|儿童|婴幼儿|残疾人|军人|人才|对象")


def _asks_who_of_the_answer(question: Question, turn: Turn) -> bool:
    text = question.text
    if question.context or len(text) > SHORT_FOLLOW_UP or not _ASKS_WHO.search(text):
        return False
    return not _names_a_plan_term(text) and bool(_NAMES_PEOPLE.search(turn.previous_answer))


def _quoted(text: str, turn: Turn, engine: AnswerEngine) -> Reply | None:
    """The clause sentence a phrase of the question repeats word for word (engine.quoted_passages),
    the one of the previous answer's clause first."""
    refs = engine.quoted_passages(text)
    if not refs:
        return None
    clauses = engine.clause_refs([turn.previous_ref, *refs])
    refs.sort(key=lambda ref: clauses.get(ref) != clauses.get(turn.previous_ref))
    answer = engine.answer_hit(Hit(refs[0], 1.0, 1.0))
    return Reply("follow_up", answer=answer) if answer is not None else None


def _within_the_topic(question: Question, turn: Turn, engine: AnswerEngine) -> Reply | None:
    """A short question naming no other topic, after an answer in a topic, whose words that topic's
    answers say: "有什么补贴吗" after 托位 is about childcare's 补贴, not any 补贴 of the plan."""
    own = without_district(question.text, turn.district)
    if not turn.topic_in_context or len(own) > SHORT_FOLLOW_UP or words_topic(own) not in (None, turn.topic_in_context):
        return None
    if ASKS_WHEN.search(own) or asks_about_now(own) or _ASKS_FOR_AN_EXAMPLE.search(own):
        return None  # "这是哪一年的目标", "现在有多少了", "有例子吗": the steps below know these
    if _asks_for_the_target(own, turn, engine):
        return None
    asked = [w for w in asked_words(own) if len(w) > 1]
    if not asked or (_ASKS_HOW.search(own) and _names_only_words_of_many(own, engine)):
        return None  # "具体怎么推进啊": how the thing asked before is done (not "具体有哪些大工程": which)
    best = engine.hits(text=own, limit=3)  # (the same search the own-question check below makes)
    clauses = engine.clause_refs([turn.previous_ref, *(h.ref for h in best[:1])])
    if best and clauses.get(best[0].ref) == clauses.get(turn.previous_ref):
        return None  # its own best match is in the clause just answered: the steps below find it
    answer = engine.answer_follow_up(
        previous=turn.previous,
        text=_ASKING.sub(" ", own).strip() or own,
        topic=turn.topic_in_context,
        district=turn.district,
        previous_ref=turn.previous_ref,
    )
    return Reply("follow_up", answer=answer) if answer.found and _says_any(asked, answer.text) else None


def _asks_nothing_of_its_own(text: str, engine: AnswerEngine) -> bool:
    """Short, and matching nothing well on its own ("建德属于哪种" without its district)."""
    return len(text) <= SHORT_FOLLOW_UP and not any(
        h.coverage >= OWN_QUESTION_COVERAGE for h in engine.hits(text=text, limit=3)
    )


# Things an answer named: "这几个区", "那些项目", "它们".
_POINTS_AT_THINGS = re.compile(r"(这|那)(几个|几项|几条|些|两个|俩|三个)|它们")
_POINTS_BACK = re.compile(r"刚才|刚说|刚刚|来着|你说的|上面说|前面说|上面提|前面提")


def _says_any(words: list[str], text: str) -> bool:
    """``text`` says one of ``words`` (two characters or more; none asked: True)."""
    said = _said_in(text)
    words = [w for w in words if len(w) > 1]
    return not words or any(said(w) for w in words)


def _said_in(text: str) -> Callable[[str], bool]:
    """Whether a word is in ``text``, as a word or as one of its character pairs ("四川" in "四川省")."""
    held = set(terms(text))
    return lambda word: word in held or f"~{word}" in held


_YEAR = re.compile(r"20[1-3]\d年?(底|末)?")
_ASKING = re.compile(rf"{ASKS_WHEN.pattern}|{QUESTION_WORDS.pattern}|{NOW_WORDS.pattern}|{HOW_MANY.pattern}|第几|几")


# "这是哪年定的", "增速分别是多少": pointing words, at the previous answer
_POINTING = re.compile(r"(这|那)(是|个|些|里|儿|样|次|块|边)?|各是|各自|分别|时候|当时")  # "2021年的时候"
# A word found in this share of the search documents or more ("目标", "提出") names nothing of its own.
COMMON_TERM_SHARE = 0.05


def _names_only_common_words(text: str, engine: AnswerEngine) -> bool:
    """Besides question words, pointing words and years, the question's words are common to many
    documents or in none: "这是哪年定的", "这是到哪一年的目标" say what they ask, not about what."""
    words = _subject_words(HOW_FAR.sub(" ", ASKS_WHEN.sub(" ", text)))  # "这个现在落实了吗": 落实 is what it asks
    counts = engine.term_counts(words)
    common = COMMON_TERM_SHARE * max(counts.documents, 1)
    return not any(0 < counts.frequency[w] < common for w in words)


def _uncommon_words(text: str, engine: AnswerEngine) -> list[str]:
    """The question's subject words found in fewer than COMMON_TERM_SHARE of the search documents
    (in none, too: a resident's own word may be a synonym's)."""
    words = _subject_words(text)
    counts = engine.term_counts(words)
    common = COMMON_TERM_SHARE * max(counts.documents, 1)
    return [w for w in words if counts.frequency[w] < common]


_ASKS_HOW = re.compile(r"怎么|怎样|咋|如何")


def _names_only_words_of_many(text: str, engine: AnswerEngine) -> bool:
    """Every word the question names is common to many documents: "具体怎么推进啊" (推进: 113 of 474)
    asks about what was asked before, not about 城市有机更新's "扎实推进"."""
    words = _subject_words(text)
    counts = engine.term_counts(words)
    common = COMMON_TERM_SHARE * max(counts.documents, 1)
    return bool(words) and all(counts.frequency[w] >= common for w in words)


def _names_no_rare_word(text: str, engine: AnswerEngine) -> bool:
    """ "具体怎么推进啊" (推进: in 113 of 474 documents), "具体怎么做呢" (no word of two characters)."""
    return not _subject_words(text) or _names_only_words_of_many(text, engine)


def _names_only_unknown_words(text: str, turn: Turn, engine: AnswerEngine) -> bool:
    """The question is about two words or more (two characters or more each), all in no search document
    and not in the previous answer ("四川是哪个市" after an answer naming 四川省 is about that answer)."""
    words = _subject_words(text)
    if any(map(_said_in(turn.previous_answer), words)):
        return False
    counts = engine.term_counts(words)
    return len(words) >= 2 and not any(counts.frequency[w] for w in words)  # one may be a typo ("上一年")


def _rare_terms(text: str, engine: AnswerEngine) -> list[str]:
    """The words of ``text`` (two characters or more) that at least one and at most
    RARE_TERM_DOCUMENTS search documents use: "一卡通", "夜间经济" name one commitment of the plan."""
    words = [t for t in dict.fromkeys(terms(text)) if len(t) >= 2 and not t.startswith("~")]
    counts = engine.term_counts(words)
    return [w for w in words if 0 < counts.frequency[w] <= RARE_TERM_DOCUMENTS]


def _subject_words(text: str) -> list[str]:
    """The words (two characters or more) that say what a question is about: not its question words,
    years or pointing words."""
    words = asked_words(_RANK.sub(" ", text))
    return [w for w in words if len(w) >= 2 and not _YEAR.fullmatch(w) and not _POINTING.fullmatch(w)]


# "排全国第几" asks where the thing just named stands, not about 全国 ("全国示范性老年友好型社区")
_PLACES = r"(全国|全省|全市|国内|全世界)?(城市)?(里|中)?"
_RANK = re.compile(rf"(在)?{_PLACES}(排名?|排在|排行)(在)?{_PLACES}(第几|多少|前几|怎么样|咋样|靠前)?|第几(名|位)")


def asked_words(text: str) -> list[str]:
    """The words of a question that say what it is about, without its question words
    ("现在已经有多少了" has none: it asks about what was asked before)."""
    return [t for t in terms(_ASKING.sub(" ", text)) if not t.startswith("~")]


# A follow-up asking for a kind of figure ("增速各是多少", "排第几") that the previous answer gives.
FIGURE_KINDS = (
    (
        re.compile(
            # "两个数比上一年各涨了百分之几": the growth of the figures given
            r"((这|那)?(两|几)个数(字)?)?((比|较|跟)(上一?年|去年|前一年)(相比)?)?[各都分别]?"
            r"((多了?|高了?|涨了?|增长了?)?百分之几|百分比|几个点|增速|增幅|涨幅|增长率|占比|(涨|增长|多)了?多少)"
        ),
        re.compile(r"\d%"),
    ),
    (re.compile(r"排(第)?几|第几(名|位)|排名|名次|排多少"), re.compile(r"第\d+位")),
    (re.compile(r"多大年纪|多少岁|几岁|年龄"), re.compile(r"\d+岁")),
)


def _held_by_previous_answer(text: str, turn: Turn) -> bool:
    """The previous answer holds what the follow-up asks: every word of it, and the kind of figure it
    asks for ("增速各是多少" after the incomes and their growth; "税收那块排第几"). With no word of its
    own, a follow-up that points back ("它们呢") or asks how many after a figure ("这个要搞多少个")."""
    if not turn.previous_ref or not turn.previous_answer:
        return False
    rest = _ASKS_WHICH_KIND.sub(" ", text)  # "它是属于哪方面的": the previous answer says what it is
    for asks, figure in FIGURE_KINDS:
        if asks.search(rest) and figure.search(turn.previous_answer):
            rest = asks.sub(" ", rest)
    # (a year stays: "那2021年城镇居民实际收入多少" after the 2025 target asks for another figure)
    asked = [w for w in asked_words(rest) if len(w) > 1 and not _POINTING.fullmatch(w)]
    if asked:  # (a word in no document, "荷花" in "西湖边现在荷花开了没", asks about something else)
        return all(map(_said_in(turn.previous_answer), asked))
    if rest != text:
        return True
    if asks_about_now(text) or ASKS_WHEN.search(text) or TARGET_WORDS.search(text) or _ASKS_FOR_AN_EXAMPLE.search(text):
        return False  # "现在有多少了", "哪年的", "目标呢", "有例子吗": other steps answer these
    return bool(_REFERS_BACK.search(text) or (HOW_MANY.search(text) and re.search(r"\d", turn.previous_answer)))


# "它是属于哪方面的"; "主要看哪两项" after "…主要看在杭州居住的年限和缴纳社保的年限": which ones it says
_ASKS_WHICH_KIND = re.compile(
    r"属于哪(个|一)?(方面|类|种|块|领域|部分)|是哪(个|一)?(方面|类|领域)的?|(是)?哪(两|三|几)(项|个|样|方面|条)"
)
_REFERS_BACK = re.compile(r"^(那|这)?(它|它们|他们|这个|那个|这些|那些|这俩|这两个)")


def _answers_on_previous(
    previous: str,
    engine: AnswerEngine,
    *,
    clause: Callable[[str], bool],
    exclude: str = "",
    best_of_clause: bool = False,
) -> list[Answer]:
    """The answers of the documents that match the previous question (without its year: "2021年" is
    the report's, "2025年" a target's) within LATEST_SHARE of the best, from the clauses ``clause``
    accepts; those with a figure first ("居民收入稳步提升。" is a heading). ``best_of_clause``: the
    best of those clauses sets the floor (the report's sentence on patents outranks the target's line)."""
    hits = [h for h in engine.hits(text=_YEAR.sub(" ", previous), limit=20) if h.ref != exclude]
    clauses = engine.clause_refs(h.ref for h in hits)
    if best_of_clause:
        hits = [h for h in hits if clause(clauses.get(h.ref, ""))]
    if not hits:
        return []
    floor = max(WEAK_COVERAGE, LATEST_SHARE * hits[0].coverage)
    kept = [h for h in hits if h.coverage >= floor and clause(clauses.get(h.ref, ""))]
    answers = [a for a in map(engine.answer_hit, kept) if a is not None]
    # about the same thing: "已经做到了吗" after 人均预期寿命 is not the report's 托位, matched on "目标"
    named = _uncommon_words(_YEAR.sub(" ", previous), engine)
    answers = [a for a in answers if not named or any(w in a.text for w in named) or _says_any(named, a.text)]
    # the figure after the lead-in ("2022年的进展报道提到：", "《行动计划》的主要目标是，到2025年：")
    answers.sort(key=lambda a: not re.search(r"\d", a.text.split("：", 1)[-1]))
    return answers


def _from_the_report(clause: str) -> bool:
    return clause.startswith(REPORT_PREFIX)


def _latest_figure(previous: str, engine: AnswerEngine) -> Reply | None:
    """ "现在已经有多少了" after a 2025 target: the 2022 report's figure on the same thing."""
    answers = _answers_on_previous(previous, engine, clause=_from_the_report)
    if not answers:
        return None
    answers[0].text += "\n" + NOW_NOTE
    return Reply("follow_up", answer=answers[0])


# A question after an answer that asks for a concrete case of the same thing.
_ASKS_FOR_AN_EXAMPLE = re.compile(
    r"例子|案例|样板|典型|(成型|现成|成功|成熟)的?(模式|经验|做法)|可以参考|借鉴|"
    r"有没有.{0,8}(已经|建好|装好|做好|搞好|建成|做成)|(已经|建好|装好|做好|搞好|建成).{0,6}(的)?(小区|社区|村|地方)"
)


def _example(question: Question, turn: Turn, engine: AnswerEngine) -> Reply | None:
    """A case the 2022 report tells on what was asked before (its concrete places and figures), else
    another part of the clause just answered ("有成型的模式可以参考吗" after 乡村片区化: 大下姜)."""
    cases = _answers_on_previous(turn.previous, engine, clause=_from_the_report, exclude=turn.previous_ref)
    answer = (
        cases[0]
        if cases
        else engine.more_on(previous_ref=turn.previous_ref, previous=turn.previous, text=question.text)
    )
    return Reply("follow_up", answer=answer) if answer.found else None


# A question after a figure of the 2022 report that asks for the plan's target on the same thing.
TARGET_WORDS = re.compile(r"目标|规划|计划要|到2025年?|2025年|要(达到|做到|搞到|完成)|定的是|定了")
TARGETS_REF = "主要目标"


def _asks_for_the_target(text: str, turn: Turn, engine: AnswerEngine) -> bool:
    """ "目标是多少件", "那到2025年呢", "到2025年数字经济要做到多大" after an answer from the 2022 report:
    target words, and no word of the plan besides common ones and those of the previous question or answer."""
    if not turn.previous_ref or not TARGET_WORDS.search(text):
        return False
    if not _from_the_report(engine.clause_refs([turn.previous_ref]).get(turn.previous_ref, "")):
        return False
    words = _subject_words(TARGET_WORDS.sub(" ", text))
    before = f"{turn.previous} {turn.previous_answer}"
    counts = engine.term_counts(words)
    common = COMMON_TERM_SHARE * max(counts.documents, 1)
    # a word in no document ("多大", "最后") can't name another thing of the plan
    return all(w in before or not counts.frequency[w] or counts.frequency[w] >= common for w in words)


def _target_figure(turn: Turn, engine: AnswerEngine) -> Reply | None:
    """The targets table's line nearest the previous question, one saying its rarest word first
    ("杭州人手里的发明专利21年有多少": 发明专利, not the line on what 杭州人 earn)."""
    answers = _answers_on_previous(
        turn.previous, engine, clause=lambda clause: clause == TARGETS_REF, best_of_clause=True
    )
    if not answers:
        return None
    words = _subject_words(turn.previous)
    counts = engine.term_counts(words)
    known = [w for w in words if counts.frequency[w]]

    def says(answer: Answer) -> tuple[int, int, int]:
        # the most of the question's words, the longest first ("人均可支配收入" over "城乡居民"): as
        # written, then as words (with their synonyms); then the rarest ("发明专利", not the line on
        # what 杭州人 earn)
        said = [w for w in known if _said_in(answer.text)(w)]
        written = sum(len(w) for w in known if w in answer.text)
        return written, sum(len(w) for w in said), -min((counts.frequency[w] for w in said), default=0)

    return Reply("follow_up", answer=max(answers, key=says))


def district_fact(question: Question, turn: Turn, engine: AnswerEngine) -> Reply | None:
    """A district the 2022 report names a concrete fact about ("那钱塘区有吗" after a lift question)."""
    if not turn.district:
        return None
    short = turn.district.removesuffix("区").removesuffix("市").removesuffix("县")
    about = f"{turn.previous} {question.text}" if is_follow_up(question.text) else question.text
    own = without_district(question.text, turn.district)
    if turn.previous_ref and (is_follow_up(question.text) or _asks_nothing_of_its_own(own, engine)):
        # "建德算哪一种" after the nine cities' types: the sentence of that clause that names 建德
        answer = engine.passage_naming(short, previous_ref=turn.previous_ref)
        if answer is not None:
            return Reply("district_fact", answer=answer)
    everything = engine.hits(text=about, limit=20)
    floor = max(WEAK_COVERAGE, DISTRICT_SHARE * everything[0].coverage) if everything else 1.0
    hits = [h for h in _from_report(everything, engine) if h.coverage >= floor]
    # …and says something asked besides the district ("滨江有几个这种小区" after 人才专项租赁住房:
    # not the report's sentence on the park in 滨江)
    asked = [w for w in _subject_words(about) if short not in w]
    for hit in hits:
        answer = engine.answer_hit(hit)
        if answer is not None and short in answer.text and _says_any(asked, answer.text):
            return Reply("district_fact", answer=answer)
    return None


def _from_report(hits: list[Hit], engine: AnswerEngine) -> list[Hit]:
    """The hits resting on the 2022 report: its sentences and the entries written from it."""
    clauses = engine.clause_refs(h.ref for h in hits)
    return [h for h in hits if _from_the_report(clauses.get(h.ref, ""))]


def _choose(hits: list[Hit], text: str, turn: Turn, engine: AnswerEngine) -> Hit | None:
    hits = engine.preferred(hits, text=text, topic=_nlu_topic(turn))
    if not hits:
        return None
    best = hits[0]
    if asks_about_now(text):
        report = _from_report(hits, engine)
        if report and report[0].coverage >= NOW_PREFERENCE * best.coverage:
            return report[0]
    year = _asked_year(text)
    if year is not None and not _is_of_year(engine.answer_hit(best), year):
        # "托位会不会多一点，到2025年有没有个": the 2025 target before the report's 2022 figure
        near = [h for h in hits[1:YEAR_CANDIDATES] if h.coverage >= YEAR_SHARE * best.coverage]
        return next((h for h in near if _is_of_year(engine.answer_hit(h), year)), best)
    return best


def _nlu_topic(turn: Turn) -> str | None:
    """The resident topic NLU is sure of, if any."""
    topic = INTENT_TOPICS.get(turn.intent or "")
    return topic if topic in RESIDENT_TOPICS and turn.confidence >= NLU_TOPIC_CONFIDENCE else None


def _names_a_plan_term(text: str, engine: AnswerEngine | None = None) -> bool:
    """The question uses one of the plan's own terms (the vocabulary's canonical words, the topics'
    terms, or with ``engine`` a word only RARE_TERM_DOCUMENTS documents use): "街道能给点临时救助吗",
    "听说要搞民生一卡通" are about the plan whatever NLU thinks."""
    # not "什么意思", the canonical word of "是啥": a way of asking, no term of the plan
    plan_terms = {c for _, c in vocabulary() if not QUESTION_WORDS.search(c)} | {
        t for ts in TOPIC_TERMS.values() for t in ts
    }
    if plan_terms & set(terms(text)):
        return True
    return bool(RARE_TERM_DOCUMENTS and engine is not None and _rare_terms(text, engine))


def _nlu_sure_out_of_scope(turn: Turn) -> bool:
    return turn.intent == "out_of_scope" and turn.confidence >= NLU_OUT_OF_SCOPE


def _nlu_places_it_in_a_topic(turn: Turn) -> bool:
    return turn.intent in INTENT_TOPICS and turn.confidence >= WEAK_NLU_CONFIDENCE


def _answer_from(
    hits: list[Hit],
    text: str,
    turn: Turn,
    engine: AnswerEngine,
    step: str,
    *,
    topic: str | None = None,
    by_meaning: bool = True,
) -> Reply | None:
    """The chosen hit's answer if it covers the question well enough; a weaker match only when the
    message is surely within a topic of the plan (``topic``: the question names it)."""
    chosen = _choose(hits, text, turn, engine)
    if chosen is None:
        return None
    in_a_topic = topic is not None or _nlu_places_it_in_a_topic(turn)
    if (
        chosen.coverage < OUT_OF_SCOPE_COVERAGE
        and _nlu_sure_out_of_scope(turn)
        and not _names_a_plan_term(text, engine)
    ):
        return None  # "家里水管爆了找谁修" shares 找谁修 with the lift's maintenance; NLU knows better
    weak_ok = chosen.coverage >= WEAK_COVERAGE and in_a_topic
    if weak_ok and chosen.coverage < ANSWER_COVERAGE and topic is None and turn.intent in AGREEMENT_INTENTS:
        # only NLU's catch-all puts it in the plan ("海康威视年终奖发几个月": ask_plan, "几个月"
        # matches the childcare age entry): the meaning match must point at the same clause; or
        # another of the first word matches does ("碳达峰碳中和跟老百姓过日子有啥关系": "老百姓"
        # matches 第24条 best, 碳达峰碳中和 and the meaning point at 第6条)
        agreeing = _agreeing_hit(hits, chosen, text, engine)
        weak_ok = agreeing is not None
        chosen = agreeing or chosen
    if (
        not weak_ok
        and chosen.coverage >= WEAK_COVERAGE
        and not _nlu_sure_out_of_scope(turn)  # "社保卡芯片坏了": 芯片 is 集成电路, but the question is an errand
        and _says_the_mapped_term(text, chosen, engine)
    ):
        weak_ok = True  # "杭州的空气以后能不能好点": 空气 is the plan's 大气环境质量, and the match says it
    if chosen.coverage < ANSWER_COVERAGE and not weak_ok:
        nearest = _by_meaning(text, turn, engine) if by_meaning else None
        if nearest is None:
            return None
        chosen = nearest  # the words match too weakly: the phrasing nearest in meaning, if near enough
    answer = engine.answer_hit(chosen, related_to=hits)
    if answer is None or (chosen.coverage < ANSWER_COVERAGE and _counts_what_no_document_names(text, answer, engine)):
        return None
    in_a_resident_topic = topic in RESIDENT_TOPICS or INTENT_TOPICS.get(turn.intent or "") in RESIDENT_TOPICS
    if not in_a_resident_topic and _about_what_no_document_names(text, answer, engine):
        return None  # (in a resident topic by NLU, "一楼要出多少" needs no word of the topic)
    if asks_about_now(text) and (answer.clause_ref or "").startswith(REPORT_PREFIX):
        answer.text += "\n" + NOW_NOTE
    log.debug("step %s: %s (coverage %.2f, score %.1f)", step, chosen.ref, chosen.coverage, chosen.score)
    return Reply(step, answer=answer)


def _says_the_mapped_term(text: str, chosen: Hit, engine: AnswerEngine) -> bool:
    """A resident's word that the vocabulary maps to a term of the plan used by few documents
    ("空气" -> 大气环境质量, "积水" -> 防洪排涝) is in the question, and the match uses that term: staff
    said what the word means, so the word match is evidence enough."""
    words = set(terms(text))
    mapped = [c for variant, c in vocabulary() if c in words and variant in text]
    counts = engine.term_counts(mapped)
    return any(0 < counts.frequency[c] <= MAPPED_TERM_DOCUMENTS and engine.holds_term(chosen.ref, c) for c in mapped)


def _agreeing_hit(hits: list[Hit], chosen: Hit, text: str, engine: AnswerEngine) -> Hit | None:
    """``chosen``, or else the first of the first WORD_AGREEMENT_RANKS word matches (at least
    WEAK_COVERAGE), whose clause one of the WEAK_AGREEMENT documents nearest in meaning rests on."""
    matches = engine.semantic_matches(text=text, limit=WEAK_AGREEMENT)
    if not matches:
        return chosen  # meaning-based matching is off: the word match alone, as before
    refs = [m.ref for m in matches]
    candidates = [chosen, *(h for h in hits[:WORD_AGREEMENT_RANKS] if h.ref != chosen.ref)]
    clauses = engine.clause_refs([*refs, *(h.ref for h in candidates)])
    near = {clauses.get(r) for r in refs}
    for hit in candidates:
        if hit.coverage >= WEAK_COVERAGE and (hit.ref in refs or clauses.get(hit.ref) in near):
            return hit
    return None


def words_topic(text: str) -> str | None:
    """The one resident topic the question names in the plan's words, after the vocabulary
    ("看娃的地方" -> 托育 -> childcare); None for none or several."""
    words = set(terms(text))
    named = [topic for topic in RESIDENT_TOPICS if any(t in words for t in TOPIC_TERMS[topic])]
    return named[0] if len(named) == 1 else None


def topic_answer(question: Question, turn: Turn, engine: AnswerEngine, *, by_meaning: bool = True) -> Reply | None:
    hits = engine.hits(text=question.text)
    nlu_topic = _nlu_topic(turn) if len(split_questions(turn.text)) == 1 else None
    topic = words_topic(question.text) or nlu_topic
    if hits and topic:
        # The question names its topic, or NLU is sure of it: "婴幼儿托育要花多少钱" is not the
        # lift's cost, though "要花多少钱" matches that entry best.
        within = engine.hits(text=question.text, topic=topic)
        # …and a weak match elsewhere is no reason to leave the topic the question names.
        near = within and within[0].coverage >= NLU_TOPIC_SHARE * hits[0].coverage
        if within and within[0].ref != hits[0].ref and (near or hits[0].coverage < ANSWER_COVERAGE):
            return _answer_from(within, question.text, turn, engine, "topic_answer", topic=topic, by_meaning=by_meaning)
    return _answer_from(hits, question.text, turn, engine, "topic_answer", by_meaning=by_meaning)


def story_answer(question: Question, turn: Turn, engine: AnswerEngine) -> Reply | None:
    """A question that needs its story: "像我们这样的家庭，有没有能送孩子白天去的地方？"."""
    if not question.context:
        return None
    text = f"{question.context}，{question.text}"
    return _answer_from(engine.hits(text=text), text, turn, engine, "story_answer")


def _by_meaning(text: str, turn: Turn, engine: AnswerEngine) -> Hit | None:
    if _nlu_sure_out_of_scope_for_meaning(turn) and not _names_a_plan_term(text, engine):
        return None
    matches = engine.semantic_matches(text=text, limit=1)
    if not matches or matches[0].similarity < SEMANTIC_ANSWER:
        return None
    if _nlu_sure_out_of_scope_for_meaning(turn):
        # NLU says off-topic, but the question names a plan term ("杭州限行尾号今天是几号"): the meaning
        # match answers only if the word match agrees (the same document among its first few).
        agreeing = {hit.ref for hit in engine.hits(text=text)[:WORD_AGREEMENT_RANKS]}
        if matches[0].ref not in agreeing:
            return None
    return Hit(matches[0].ref, score=matches[0].similarity, coverage=matches[0].similarity)


def _counts_what_no_document_names(text: str, answer: Answer, engine: AnswerEngine) -> bool:
    """A how-many question whose words no document uses, weakly matched, and the answer doesn't say them
    either: its figure is of something else ("杭州常住人口有多少万" is not 大学生48.3万人). Not "21年大家买买买一共花了
    多少钱": 大家 is a word of the documents, and 6744亿元 its answer."""
    if not _ASKS_A_NUMBER.search(text):
        return False
    words = _subject_words(text)
    if not words or any(engine.term_counts(words).frequency.values()):
        return False
    return not _says_any(words, answer.text)


def _about_what_no_document_names(text: str, answer: Answer, engine: AnswerEngine) -> bool:
    """A count whose only telling word no document says (not as a search word, not inside a sentence)
    and the vocabulary doesn't know, the others common to many, and the answer doesn't say it:
    "PM2.5目标是多少" is not the income target, matched on 目标 and 多少."""
    if not _ASKS_A_NUMBER.search(text):
        return False
    words = _subject_words(text)
    counts = engine.term_counts(words)
    common = COMMON_TERM_SHARE * max(counts.documents, 1)
    # (not a measure word the tokenizer glued to a noun: "在哪个区" -> 个区)
    unknown = [w for w in words if counts.frequency[w] == 0 and not w.startswith(("个", "些", "位", "项", "条"))]
    if not unknown or any(0 < counts.frequency[w] < common for w in words):
        return False
    known_terms = {word for pair in vocabulary() for word in pair}  # "杭户积分" -> 落户积分, a variant
    unknown = [w for w in unknown if w not in known_terms and w not in answer.text]
    # ("托育服务" is no search word of the documents, but their sentences say it)
    return bool(unknown) and not any(engine.passages_matching(["(?i)" + re.escape(w)]) for w in unknown)


def _nlu_sure_out_of_scope_for_meaning(turn: Turn) -> bool:
    return turn.intent == "out_of_scope" and turn.confidence >= SEMANTIC_OUT_OF_SCOPE


def meaning_answer(question: Question, turn: Turn, engine: AnswerEngine) -> Reply | None:
    """No word match at all, or none good enough: the phrasing or clause sentence nearest in meaning
    ("河里的水脏兮兮的，政府有没有治水的打算" -> the plan's water-quality target)."""
    text = f"{question.context}，{question.text}" if question.context else question.text
    hit = _by_meaning(text, turn, engine)
    answer = engine.answer_hit(hit) if hit is not None else None
    if answer is None or _counts_what_no_document_names(question.text, answer, engine):
        return None
    return Reply("meaning_answer", answer=answer)


def final_clause(question: Question, turn: Turn, engine: AnswerEngine) -> Reply | None:
    """A long sentence whose question is its last clause, the story before it in the same sentence:
    "双职工家庭孩子太小没人看，杭州以后这种看娃的地方会多吗". Tried only when the whole didn't answer."""
    clauses = [c.strip() for c in re.split(r"[，,、]", question.text) if c.strip()]
    if len(clauses) < 2 or not QUESTION_WORDS.search(clauses[-1]) or _nlu_sure_out_of_scope(turn):
        return None
    if not any(len(w) > 1 for w in asked_words(clauses[-1])):
        return None  # "…，在哪办": the last clause says nothing of its own
    last = Question(text=clauses[-1], context="，".join(clauses[:-1]))
    # Words only: a short last clause ("能不能重新办一本") lies near anything in meaning; the whole
    # message's meaning is tried by meaning_answer next.
    reply = topic_answer(last, turn, engine, by_meaning=False)
    return Reply("final_clause", answer=reply.answer) if reply is not None else None


# A short question about a detail the previous answer did not give ("在哪个镇来着", "主要帮人家干些啥")…
SAME_CLAUSE_CHARS = 16
# …is looked for by meaning among this many documents nearest to both questions together.
SAME_CLAUSE_CANDIDATES = 40


# Words that point back at what was just said ("刚才说的那个", "人家", "还要", "也有类似的吗").
_REFERS = re.compile(
    r"这个|那个|这些|那些|这里|那里|那边|这边|刚才|刚说|刚刚|来着|人家|他们|它们?|其中|还要|还有|还会|也|呢|类似|同样|"
    r"上面|前面|你说的|分别|这两个|那两个|以后|之后|然后"
)


def same_clause(question: Question, turn: Turn, engine: AnswerEngine) -> Reply | None:
    """Last: a short question that nothing else answered, after a cited answer, asks about a detail of
    the same commitment ("刚才说的那个非遗项目，全名叫啥"): the part of that clause nearest in meaning to
    both questions together, not the same part again. Not when NLU is sure it is off-topic
    ("明天要下雨吗")."""
    if not turn.previous_ref or len(question.text) > SAME_CLAUSE_CHARS or _nlu_sure_out_of_scope_for_meaning(turn):
        return None
    if not (is_follow_up(question.text) or _REFERS.search(question.text)):
        return None  # "体检报告上尿酸高要紧吗" after a question on life expectancy says nothing of it
    matches = engine.semantic_matches(text=f"{turn.previous} {question.text}", limit=SAME_CLAUSE_CANDIDATES)
    clauses = engine.clause_refs([turn.previous_ref, *(m.ref for m in matches)])
    clause = clauses.get(turn.previous_ref)
    for match in matches:
        if match.ref != turn.previous_ref and clause is not None and clauses.get(match.ref) == clause:
            answer = engine.answer_hit(Hit(match.ref, match.similarity, match.similarity))
            if answer is not None:
                return Reply("same_clause", answer=answer)
    return None


# The details of running a place or a service that a plan does not give: a ticket, an opening hour, a
# route, a timetable, a fee for parking, a doctor's hours ("浙一总部周六下午有没有专家门诊").
OPERATIONAL_DETAIL = re.compile(
    r"门票|票价|挂号|专家门诊|急诊|首班|末班|停车费|停车一天|营业时间|开放时间|几点(开|关|到|结束|开始|截止|发车|放)|"
    r"怎么(去|过去)|怎么(坐车|乘车|打车)|坐几路|几路(公交|车)|二等座|一等座|尾号|吉祥物|"
    r"开不开门|开门|关门|闭馆|预约|截止|(要|得|开车|坐车)多久|(吃|用|擦|抹)(什么|啥|哪种)药|药膏|挂(哪个|什么|啥)科|"
    r"(要|得|花)?几块钱|演出|(有|放)(啥|什么)(电影|节目)|天气|下雨|气温|空气质量|房价|股票|地址|申请表|下载|离我家?最近|几号线|哪条线|坐(什么|啥)车|换乘|几站|开张|开业|"
    r"(带|准备|提交|交|要|需要)(哪些|什么|啥)材料|换几(趟|次|站|条)|(从|到)[^，,。？?]{1,12}(咋|怎么|怎样)走|"
    r"在哪(里|儿)?办公|办公(地点|地址)|几点(上班|下班)|上下班时间|(电话|号码|热线)(是)?(多少|几号)|联系电话|有(没有)?[^，,。？?]{0,4}电话|哪(个|些)窗口"
)


# Something that doesn't work (an app, a card): an errand for the service desk, whatever the plan says.
DEVICE_TROUBLE = re.compile(r"登不上|登录不了|登陆不了|闪退|网络异常|刷不出|刷不了|打不开|换张新的|补办")


def operational_detail(question: Question, turn: Turn, engine: AnswerEngine) -> Reply | None:
    """A question on such a detail that no document of the plan or the report holds is not covered,
    though the place it names is in the plan ("萧山机场T4停车一天多少钱": the plan names the airport).
    The detail must be in a clause that asks: "去医院挂号都难，政府管这个吗" asks about help, not 挂号."""
    asking = [c for c in re.split(r"[，,。;；!！]", question.text) if _ASKING.search(c)]
    detail = next((d for d in map(OPERATIONAL_DETAIL.search, asking) if d), None)
    if detail is None and asking:  # "浙里办APP一直登不上去,老显示网络异常,咋整": a fault, told before the question
        detail = DEVICE_TROUBLE.search(question.text)
    if detail is None:
        return None
    words = [w for w in terms(detail.group()) if not w.startswith("~") and len(w) > 1]
    # What it is about: its own words, else the rest of the message's ("滨江有几个这种小区，地址在哪")
    subject = [w for w in _subject_words(question.text) if w not in words] or [
        w for w in _subject_words(f"{question.context}，{turn.text}") if w not in words
    ]
    counts = engine.term_counts(words + subject)
    held = [w for w in words if counts.frequency[w]]
    common = COMMON_TERM_SHARE * max(counts.documents, 1)
    about = [w for w in subject if counts.frequency[w] < common]
    # The documents speak of it, and of it for what the question is about when it names something
    # (a word few documents or none use): "托位怎么预约" is answered by the entry on enrolling,
    # "灵隐寺要预约吗" by none.
    if held and (not about or any(engine.speaks_of(w, with_any=about) for w in held)):
        return None
    return Reply("not_covered", response="utter_not_covered")


def office_holder(question: Question, turn: Turn, engine: AnswerEngine) -> Reply | None:
    """Who holds an office ("西湖大学现在的校长是谁"): no document names one, though it names the place."""
    if not ASKS_WHO_HOLDS_AN_OFFICE.search(question.text):
        return None
    return Reply("not_covered", response="utter_not_covered")


# The year a question asks about: "2019年杭州GDP是多少", "那2023年呢", "杭州2023年托位有多少了";
# not a year of the resident's own story ("我2019年来的杭州，…").
_ASKED_YEAR = re.compile(r"(20[1-3]\d)(年|全年)")
_STORY_BEFORE_YEAR = re.compile(r"我|俺|咱|他|她|孩子|娃|老公|老婆|爸|妈|家里|从|自从|于")


def _asked_year(text: str) -> str | None:
    clause = re.split(r"[，,。;；!！?？]", text)
    for part in clause:
        found = _ASKED_YEAR.search(part)
        if found and not _STORY_BEFORE_YEAR.search(part[: found.start()]):
            return found.group(1)
    return None


def unnamed_year(question: Question, turn: Turn, engine: AnswerEngine) -> Reply | None:
    """A figure for a year no sentence of the documents names is not covered: the report stops at 2022
    and the plan's targets are for 2025 ("2023年每千人托位要达到多少"; "那2023年呢" after a 2021 figure)."""
    year = _asked_year(question.text)
    if year is None or not (HOW_MANY.search(question.text) or not _subject_words(question.text)):
        return None
    if engine.passages_matching([re.escape(year)]):
        return None
    return Reply("not_covered", response="utter_not_covered")


QUESTION_STEPS: list[QuestionStep] = [
    other_city_step,
    office_holder,
    operational_detail,
    unnamed_year,
    district_fact,  # before follow_up: "那钱塘区有装好的例子吗" has the report's 邻里社区 as its answer
    follow_up,
    topic_answer,
    story_answer,
    final_clause,
    meaning_answer,
    same_clause,
]


def answer_question(question: Question, turn: Turn, engine: AnswerEngine) -> Reply:
    for step in QUESTION_STEPS:
        reply = step(question, turn, engine)
        if reply is not None:
            return _for_the_district(_of_the_year_asked(_with_the_figure(reply, question, engine), question), question)
    return Reply("not_covered", response="utter_not_covered")


# An answer that names districts or county groups is about them, not the whole city.
_NAMES_PLACES = re.compile(r"区县|县（市）|县\(市\)|县市|山区|各区|\d+个区")
CITY_FIGURE_NOTE = "（以上是全市的数字，两份文件没有单独列出{district}的数字。）"


def _for_the_district(reply: Reply, question: Question) -> Reply:
    """A question about one district answered city-wide says so: "西湖区的人均收入是多少" gets the city's
    target and the note that the documents give no figure for 西湖区; a resident topic gets the
    city-wide-plan note."""
    answer = reply.answer
    district = district_named(question.text)
    if not reply.cited or answer is None or district is None or district.rstrip("区市县") in answer.text:
        return reply
    if answer.topic in RESIDENT_TOPICS:
        return replace(reply, answer=with_district_note(answer, district))
    if (
        _ASKS_A_NUMBER.search(question.text)
        and not count_districts(answer.text)
        and not _NAMES_PLACES.search(answer.text)
    ):
        answer.text += "\n" + CITY_FIGURE_NOTE.format(district=district)
    return reply


# The report's name says its year; it is not the year of its figures ("2022年的进展报道提到：地区生产总值…"
# gives 2021's).
_REPORT_NAMED = re.compile(r"2022年(的)?进展报道")


def _is_of_year(answer: Answer | None, year: str) -> bool:
    """The answer says the year, or is of it unsaid: the plan's figures are its targets for 2025 and the
    report's are 2021's ("累计城镇新增就业125万人"; "数字经济核心产业营业收入4905亿元")."""
    if answer is None:
        return False
    text = _YEAR_RANGE.sub("", _REPORT_NAMED.sub("", answer.text))
    if year in text:
        return True
    # "2021年新增了多少托位" is not answered by "2022年计划新建竣工中小学、幼儿园70所": a year said is its year
    unsaid = "2021" if (answer.clause_ref or "").startswith(REPORT_PREFIX) else "2025"
    return year == unsaid and not _SAID_YEAR.search(text)


_YEAR_RANGE = re.compile(r"20\d\d\s*[—–\-－~～至到]+\s*20\d\d年?")
_SAID_YEAR = re.compile(r"20[1-3]\d年")


def _of_the_year_asked(reply: Reply, question: Question) -> Reply:
    """A figure asked for one year ("2022年全年杭州GDP最后是多少", "2021年人均预期寿命是多少岁") is not
    answered by a figure of another: the answer must be of that year, else the documents don't give it."""
    answer = reply.answer
    year = _asked_year(question.text)
    if not reply.cited or answer is None or year is None or not _ASKS_A_NUMBER.search(question.text):
        return reply
    if _is_of_year(answer, year):
        return reply
    log.debug("%s: %s gives no figure of %s", reply.step, answer.ref, year)
    return Reply("not_covered", response="utter_not_covered")


# Asks for a count or an amount ("一共住了多少人", "有几家"), not for progress or a date.
_ASKS_A_NUMBER = re.compile(r"多少|几(个|家|所|套|万|千|百|名|项|人|岁|成|倍|件|次|座|条)|数量|人数")


def _with_the_figure(reply: Reply, question: Question, engine: AnswerEngine) -> Reply:
    """A question asking how many, answered by a clause sentence that gives no figure, gets the
    sentence of that clause that gives one and says what was asked ("邻里中心小区一共住了多少人")."""
    answer = reply.answer
    if not reply.cited or answer is None or not answer.ref or not _ASKS_A_NUMBER.search(question.text):
        return reply
    figure = engine.figure_passage(answer.ref, words=_subject_words(question.text))
    return replace(reply, answer=figure) if figure is not None else reply


def decide(turn: Turn, engine: AnswerEngine) -> list[Reply]:
    """The replies to one message: the first message step that answers decides."""
    with engine.one_message():  # one fingerprint read; a search repeated by the steps is not redone
        for step in MESSAGE_STEPS:
            replies = step(turn, engine)
            if replies:
                log.debug("%s: %s", step.__name__, [(r.step, r.answer and r.answer.clause_ref) for r in replies])
                return replies
    return [Reply("not_covered", response="utter_not_covered")]
