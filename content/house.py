"""House rules of what a person reads, whatever the pack: one register, English that stays
in the GSM alphabet, and words that do not set migrants apart from residents.

They apply to lessons, answers, quiz texts, titles and source names, not to the FAQ's
example phrasings: those are written the way people type (你, 社区 in an English
question), and the matcher learns from them as they are.
"""

from __future__ import annotations

import re

CJK_PREFIXES = ("zh", "ja", "ko")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
# One register across the bot and the content: the bot's catalog says 您.
_ZH_INFORMAL = re.compile(r"你")
# Migrants are residents too: the contrast is with people whose hukou is local.
_EN_LOCALS = re.compile(r"\blocal residents?\b|\bregistered residents?\b", re.IGNORECASE)


def house_rules(locale: str, value: str) -> list[str]:
    """What is wrong with ``value`` in ``locale`` (an empty list when nothing is)."""
    if locale.startswith("zh"):
        return ["says 你: the service says 您 throughout"] if _ZH_INFORMAL.search(value) else []
    problems = []
    if not locale.startswith(CJK_PREFIXES) and _HAN.search(value):
        problems.append("has Chinese characters: an English SMS must stay GSM-7")
    if _EN_LOCALS.search(value):
        problems.append("says 'local/registered residents': say 'people with a local hukou'")
    return problems
