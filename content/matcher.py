"""Match a free-text question to an FAQ entry, in any of the pack's languages.

People type the way they talk ("要钱吗", "free??", "do i hav to go home"), so the matcher
compares the message with every example phrasing of every entry rather than with the
answer. It is plain TF-IDF with cosine similarity:

* Chinese has no spaces, so Han text becomes character unigrams and bigrams. Unigrams
  weigh more: people reuse the same characters in new words (宣传册 for 宣传品, 节育手术
  for 计划生育手术), so shared characters are the sturdier signal, while bigrams reward
  word-for-word overlap (免费, 孕检, 老家). Function characters (的, 吗, 我) and question
  scaffolding (怎么, 有没, 能不) are dropped: every entry has them.
* Latin text becomes words with light suffix stripping (checkups -> checkup) plus word
  bigrams, minus a short stop list so "what is the ..." does not match everything.
* IDF is computed per *entry*, so a word used by many entries (免费, free) counts less
  than one that names a single service (居住证, IUD). Words never seen in the pack get
  the highest IDF: a message about something else entirely scores low and ``match``
  returns None, letting the bot hand over to a person instead of answering wrongly.
* An entry's score mixes its best single phrasing with its whole profile (all phrasings
  plus, weakly, the answer): the first is precise for questions we anticipated, the
  second copes with the same words in a new order.

All phrasings are indexed regardless of language, so a Chinese question still matches
while the interface is in English. Vectors are built once; a query is a handful of
dictionary look-ups (well under a millisecond for the shipped pack).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

from content.models import FaqEntry, Library

DEFAULT_THRESHOLD = 0.13

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"[{_HAN}]+|[^\W_{_HAN}]+")
_HAN_RE = re.compile(rf"[{_HAN}]")
_APOSTROPHES = str.maketrans("", "", "'’‘`")

# Weights per token kind, and the threshold, were tuned together on the held-out
# paraphrases and off-topic messages of tests/content/test_content_matcher.py.
W_HAN_UNIGRAM = 1.5
W_HAN_BIGRAM = 1.0
W_WORD = 1.0
W_WORD_BIGRAM = 0.3
# The answer text is indexed too, weakly: it knows the vocabulary of the topic even when
# the example phrasings do not (e.g. "IUD" in the answer about checkups).
W_ANSWER = 0.3
# Score = mix of the best single phrasing (precise when someone types a known question)
# and the entry's whole profile (robust when they use the entry's words in a new order).
W_BEST_PHRASING = 0.2

# Function characters that carry no topic (question particles, pronouns).
_HAN_STOP = frozenset("的了吗呢吧啊呀哦嘛么我你他她它们是这那个什怎样要能会和与也都还就有没不一些可以")
# Question scaffolding (能不能, 有没有, 是不是, 我想...) that every entry shares.
_HAN_STOP_BIGRAMS = frozenset(
    "什么 怎么 怎样 可以 能不 不能 有没 没有 要不 不要 是不 不是 一个 一些 这个 那个 "
    "这些 那些 我的 你的 我们 他们 我想 我要 请问 为什".split()
)
_EN_STOP = frozenset(
    """a an the is are am was were be been being do does did doing i im me my mine you
    youre your we our us it its this that these those there here of to in on at for
    from by with and or but if so as can could would should will shall may might must
    what whats how where when who whom which why about any some please hi hello
    hey thanks thank just really tell know want need get got have has had dont not no
    yes ok okay there""".split()
)


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), casefold, punctuation and symbols to spaces."""
    text = unicodedata.normalize("NFKC", text).casefold().translate(_APOSTROPHES)
    return "".join(" " if unicodedata.category(c)[0] in "PSZC" else c for c in text)


def _stem(word: str) -> str:
    """Very light English suffix stripping; both sides go through it, so it need only
    be consistent, not linguistically right."""
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix, repl, min_len in (
        ("ies", "y", 5),
        ("ied", "y", 5),
        ("sses", "ss", 5),
        ("xes", "x", 4),
        ("ches", "ch", 5),
        ("shes", "sh", 5),
        ("ing", "", 6),
        ("ed", "", 5),
        ("s", "", 4),
    ):
        if word.endswith(suffix) and len(word) >= min_len and not word.endswith("ss"):
            word = word[: -len(suffix)] + repl
            break
    if len(word) > 4 and word[-1] == word[-2] and word[-1] not in "aeiouyls":
        word = word[:-1]  # getting -> gett -> get
    if word.endswith("ll") and len(word) > 5:
        word = word[:-1]  # counselling / counseling
    return word


Bag = dict[str, float]
"""Token -> how often it occurs. Tokens carry their kind as a prefix: ``c:`` Han
character, ``b:`` Han bigram, ``w:`` word, ``p:`` word pair."""


def tokens(text: str) -> Bag:
    """Weighted bag of tokens for ``text`` (see the module docstring)."""
    bag: Bag = defaultdict(float)
    words: list[str] = []
    for run in _TOKEN_RE.findall(normalize(text)):
        if _HAN_RE.match(run):
            for i, ch in enumerate(run):
                if ch not in _HAN_STOP:
                    bag["c:" + ch] += 1
                if i + 1 < len(run) and run[i : i + 2] not in _HAN_STOP_BIGRAMS:
                    bag["b:" + run[i : i + 2]] += 1
        elif run not in _EN_STOP:
            words.append(_stem(run))
    for word in words:
        bag["w:" + word] += 1
    for first, second in zip(words, words[1:]):
        bag[f"p:{first} {second}"] += 1
    return bag


_KIND_WEIGHT = {"c": W_HAN_UNIGRAM, "b": W_HAN_BIGRAM, "w": W_WORD, "p": W_WORD_BIGRAM}


@dataclass(frozen=True, slots=True)
class Match:
    entry: FaqEntry
    score: float


@dataclass(frozen=True, slots=True)
class _Doc:
    entry: int
    locale: str


class FaqMatcher:
    """Ranks FAQ entries by similarity to a message; see the module docstring.

    ``threshold`` is the lowest score ``match`` accepts. It was tuned on held-out
    paraphrases (tests/content/test_content_matcher.py) and off-topic messages: nearly
    all real questions score above it, small talk and unrelated questions below.
    Below it the bot should say it did not understand, not guess.
    """

    def __init__(self, library: Library, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold
        self.entries: list[FaqEntry] = list(library.faq)
        phrasings: list[tuple[_Doc, Bag]] = []
        profiles: list[Bag] = []
        for i, entry in enumerate(self.entries):
            profile: Bag = defaultdict(float)
            for locale, texts in entry.questions.items():
                for phrasing in texts:
                    bag = tokens(phrasing)
                    phrasings.append((_Doc(i, locale), bag))
                    for tok, weight in bag.items():
                        profile[tok] += weight
            for answer in entry.answer.values():
                for tok, weight in tokens(answer).items():
                    profile[tok] += weight * W_ANSWER
            profiles.append(profile)

        # Document frequency per entry, not per phrasing: a word repeated across one
        # entry's phrasings is its signature, not noise.
        df: dict[str, int] = defaultdict(int)
        for profile in profiles:
            for tok in profile:
                df[tok] += 1
        n = max(len(self.entries), 1)
        self._idf = {tok: math.log((n + 1) / (count + 1)) + 1.0 for tok, count in df.items()}
        self._unknown_idf = math.log(n + 1) + 1.0  # as if no entry used the token

        self._docs: list[_Doc] = []
        self._postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for doc, bag in phrasings:
            vec = self._vector(bag)
            if vec:
                self._add(self._postings, len(self._docs), vec)
                self._docs.append(doc)
        self._profile_postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for i, profile in enumerate(profiles):
            self._add(self._profile_postings, i, self._vector(profile))

    @staticmethod
    def _add(
        postings: dict[str, list[tuple[int, float]]], index: int, vec: dict[str, float]
    ) -> None:
        for tok, weight in vec.items():
            postings[tok].append((index, weight))

    def _vector(self, bag: Bag) -> dict[str, float]:
        # log1p: sublinear in repetitions and still positive for the fractional counts
        # that answer text contributes to a profile.
        vec = {
            tok: _KIND_WEIGHT[tok[0]] * math.log1p(tf) * self._idf.get(tok, self._unknown_idf)
            for tok, tf in bag.items()
            if tf > 0
        }
        norm = math.sqrt(sum(w * w for w in vec.values()))
        return {tok: w / norm for tok, w in vec.items()} if norm else {}

    def rank(self, text: str, locale: str | None = None, k: int = 3) -> list[Match]:
        """Best ``k`` entries for ``text``, best first, whatever their score.

        ``locale`` (the person's interface language) only breaks ties in favour of
        phrasings in that language; every language is searched.
        """
        query = self._vector(tokens(text))
        best: dict[int, float] = {}
        for index, dot in self._dots(self._postings, query).items():
            doc = self._docs[index]
            # The tie-break nudge is far below any meaningful score difference.
            score = dot + (1e-9 if doc.locale == locale else 0.0)
            if score > best.get(doc.entry, 0.0):
                best[doc.entry] = score
        profile = self._dots(self._profile_postings, query)
        combined = {
            i: W_BEST_PHRASING * best.get(i, 0.0) + (1 - W_BEST_PHRASING) * profile.get(i, 0.0)
            for i in best.keys() | profile.keys()
        }
        ordered = sorted(combined.items(), key=lambda item: (-item[1], item[0]))[:k]
        return [Match(self.entries[i], round(score, 6)) for i, score in ordered if score > 0]

    @staticmethod
    def _dots(
        postings: dict[str, list[tuple[int, float]]], query: dict[str, float]
    ) -> dict[int, float]:
        scores: dict[int, float] = defaultdict(float)
        for tok, weight in query.items():
            for index, doc_weight in postings.get(tok, ()):
                scores[index] += weight * doc_weight
        return scores

    def match(self, text: str, locale: str | None = None) -> Match | None:
        """The best entry if it scores at least ``threshold``, else None."""
        ranked = self.rank(text, locale, k=1)
        if ranked and ranked[0].score >= self.threshold:
            return ranked[0]
        return None
