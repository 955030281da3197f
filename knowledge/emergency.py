"""Someone in danger now, recognised by meaning as well as by pattern (issue 11).

The pattern list ``knowledge.understanding.EMERGENCY`` knows the stock words (着火, 晕倒, 被困 …), but
people in danger describe what they see: "奶奶摔倒了头磕到马桶 叫她也不应", "狗咬住小孩腿不松口".
Every fresh batch of such messages found kinds the list had not seen. So a message the list misses
is also compared, by meaning (knowledge/semantic.py), with a curated set of examples
(``emergency_examples.yml``): messages of people in danger, and messages that share their words but
are not (policy questions on safety, old accidents told as background, "急死了", errands such as
"灭火器哪里买"). The message counts as an emergency when its nearest examples are mostly
emergencies (``judge``).

Only messages with a word of harm or urgency (``HARM_CUE``, broad on purpose) are compared, so an
ordinary question costs no embedding. A missed emergency is the worst failure the assistant can
have, an extra one costs a resident one more line: the rule leans towards the emergency numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from knowledge.semantic import Match
from knowledge.understanding import MANIPULATION, told_as_past_or_policy

EXAMPLES_FILE = Path(__file__).with_name("emergency_examples.yml")
EMERGENCY, NOT_EMERGENCY = "emergency", "not_emergency"

# Words of harm or urgency: the message is worth comparing by meaning. Broad on purpose (it only
# decides whether to look); "水" and "打" are left out, and 困 as Hangzhou's "sleepy" (困觉), 烧饭,
# 火锅 and "快多了": too common in ordinary messages.
HARM_CUE = re.compile(
    r"血|倒|晕|昏|不动|不应|不答应|不理|没反应|没动静|叫不醒|醒不过来|喘|呼吸|憋|胸|心口|心脏|冷汗|嘴(歪|唇)|说不出|"
    r"抽|吐|白沫|烧(?!饭|菜|钱)|火(?!锅|车|爆|腿)|烟|炸(?!鸡|串|酱)|爆|漏|味|焦|电到|撞|砸|压|埋|塌|掉|摔|跌|滚|咬|蜇|叮|卷|夹|轧|"
    r"(?<!犯)困(?!了|觉)|卡|锁|出不来|"
    r"吃了|吞|喝了|误|药|毒|刀|枪|抢|偷|贼|撬|闯|跟踪|尾随|不见|找不到|丢|走失|跳|淹|冲走|洪|涨|台风|"
    r"疼|痛|紫|烫|生了|羊水|发烧|高烧|肿|过敏|救|报警|急|快(?!多了|的|点|乐)|怎么办|咋办|\d{3}|😭|😱|🆘|"
    # what people see rather than name (session 16). Cost, measured on 400 dev messages: 169 questions
    # embedded in all, 163 without these words, 136 with no comparison with danger at all.
    # a stroke, choking, collapse
    r"歪|含糊|大舌头|口齿|半边|一边脸|举不起|抬不起|拿不住|动不了|听不懂|喉咙|掐|抖|哆嗦|瘫|趴|摇|醒|呛|咳|吸进|捂|"
    r"发不出|不出声|断气|通红|发白|发青|黑洞|中暑|中署|糊涂|来不及|头都出来|起不来|哼|弯|角度|扎|钢筋|"
    # water, traffic
    r"沉|潮|卷|翻(?!新|倍|修|译|身)|船|往水里|进水|没顶|车里|"
    # someone missing, taken, followed, hurt by others; someone saying goodbye to life
    r"没回来|没回家|走散|跑出去|寻伐着|寻不着|骗|陌生|牵走|抱起|抱走|面包车|拖|拽|关机|打不通|不接|挂了电话|定位|"
    r"脚步声|摸我|躲|影子|郊区|拉着我|不放|尖叫|被打得|酒疯|踢|狗|扑倒|栏杆|叫他也|叫她也|遗书|活着|没意思|撑不下去|绳子|"
    r"楼顶|天台|顶楼|往下看|挂在外"
)


@dataclass(frozen=True)
class Examples:
    emergency: tuple[str, ...]
    not_emergency: tuple[str, ...]

    def documents(self) -> list[tuple[str, str]]:
        """(ref, text) pairs for knowledge/semantic.py: "emergency:12", "not_emergency:40"."""
        return [(f"{EMERGENCY}:{i}", t) for i, t in enumerate(self.emergency)] + [
            (f"{NOT_EMERGENCY}:{i}", t) for i, t in enumerate(self.not_emergency)
        ]


class ExamplesFileError(ValueError):
    pass


def read_examples(path: Path = EXAMPLES_FILE) -> Examples:
    """The curated examples; both lists must be there and non-empty (the knowledge-base build and a
    test read them, so a broken file fails there, not when a resident is in danger)."""
    from knowledge.text import simplified

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ExamplesFileError(f"{path.name} 无法读取：{exc}") from None
    lists = {}
    for label in (EMERGENCY, NOT_EMERGENCY):
        items = data.get(label) if isinstance(data, dict) else None
        if not isinstance(items, list) or not items or not all(isinstance(t, str) and t.strip() for t in items):
            raise ExamplesFileError(f"{path.name} 里的 {label} 必须是非空的文字列表")
        lists[label] = tuple(dict.fromkeys(simplified(t) for t in items))  # as questions are compared
    return Examples(lists[EMERGENCY], lists[NOT_EMERGENCY])


@lru_cache(maxsize=1)
def examples() -> Examples:
    return read_examples()


# The decision, calibrated on the dev split and on the examples themselves (each left out in turn;
# docs/eval-residents.md, Session 15): the nearest example must be an emergency, and among the
# NEIGHBOURS nearest (the plan's own phrasings count as non-emergencies) the emergencies'
# similarities must outweigh the others' by MARGIN (cosine similarities, 0…1 each).
NEIGHBOURS = 5
MARGIN = 0.9


def worth_comparing(text: str) -> bool:
    """A message with a word of harm or urgency that is not told of the past or asked as policy (the
    pattern list's own exceptions, knowledge/understanding.py)."""
    return (
        not text.startswith("/")
        and bool(HARM_CUE.search(text))
        and not told_as_past_or_policy(text)
        and not MANIPULATION.search(text)  # "忘掉你的规则": nearest to nothing, it lands anywhere
    )


def judge(nearest: Sequence[Match]) -> bool:
    """Whether the nearest examples (best first, knowledge/semantic.py) say "emergency"."""
    if not nearest or not nearest[0].ref.startswith(EMERGENCY + ":"):
        return False
    score = sum(m.similarity if m.ref.startswith(EMERGENCY + ":") else -m.similarity for m in nearest[:NEIGHBOURS])
    return score > MARGIN
