"""A miniature Reddit TL;DR task: posts, reference summaries, comparisons, a judge.

The real thing is OpenAI's "Learning to summarize from human feedback" data as
CarperAI republished it:

- ``CarperAI/openai_summarize_tldr``: columns ``prompt`` and ``label``
  (splits ``train``, ``valid``, ``test``). The prompt is
  ``"SUBREDDIT: r/{sub}\\nTITLE: {title}\\nPOST: {post}\\nTL;DR:"`` and the
  label starts with a space, so ``prompt + label`` reads naturally.
- ``CarperAI/openai_summarize_comparisons``: columns ``prompt``, ``chosen``,
  ``rejected`` (splits ``train``, ``test``, ``valid1``, ``valid2``). Here the
  prompt stops after the post (no ``"\\nTL;DR:"``) and each summary *starts*
  with ``"TL;DR: "``; the usual recipe (trlx) scores
  ``prompt + "\\n" + chosen``. So for one post,
  ``comparison.prompt + "\\n" + comparison.chosen == post.prompt + " " + text``:
  the same string the SFT model sees. ``Comparison.sft_prompt`` and
  ``Comparison.chosen_summary`` give the SFT-shaped halves.

Real posts are far too long for a tiny GPT on a CPU (a context of 112 tokens), so
this module *generates* short posts (about 25-45 words) from phrase banks and a
seed: a counterpart (roommate, boss, sister, ...), a problem, often a number
(a duration, an amount of money, a count), a question, plus sentences that are
NOT key facts (context, "Sorry for formatting, on mobile."). Summaries are
6-15 words.

Because we built each post, we know its KEY FACTS (``Post.facts``: slot,
value, surface keywords). That gives an independent judge, in the spirit of
VADER for the tweets (``judge.py``): it is never used to train anything.

- ``fact_coverage(post, summary)``: the share of the post's key facts whose
  keywords appear in the summary.
- ``hallucination(post, summary)``: the summary names a counterpart or a number
  that is not in the post (only terms from this generator's vocabularies are
  checked: a model trained on this data writes in that vocabulary).
- ``judge_score``/``judge_summaries`` combine them.

Real CarperAI rows carry no key facts, so ``load_hf_tldr``/``load_hf_comparisons``
give rows the judge cannot score (``Comparison.post is None``): on real data
you evaluate with the reward model or by reading, not with this judge.

Comparison pairs (``comparison_pairs``) have a stated, checkable reason why
``chosen`` beats ``rejected``: ``"missing_fact"``, ``"hallucination"``,
``"wrong_fact"``, ``"verbose"`` or ``"generic"``. Chosen summaries are
re-worded renderings of all the facts, not always the reference verbatim, so a
reward model cannot win by memorising one string per post. The one exception is
``"wrong_fact"``: chosen leaves one fact (a number or the person) out and
rejected states it wrongly. That is the mistake a small SFT model makes most
(it writes *a* number, not the post's), and without such pairs a reward model
learns "a number is good" from the missing-fact pairs and rewards wrong ones.
A "hallucination" rejection swaps in another person or number, adds an invented
detail, or gives the counterpart a wrong age ("(41M)" for a 48-year-old), one
of the two inventions a better-trained SFT model makes most.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass, field
from functools import lru_cache

from .data import _check_frac, _import_datasets, _read_local_rows

TLDR_TAG = "TL;DR:"
REASONS = ("missing_fact", "hallucination", "wrong_fact", "verbose", "generic")
SLOTS = ("counterpart", "problem", "number", "question")

# Summary length bounds (words) for references and chosen summaries.
MIN_SUMMARY_WORDS, MAX_SUMMARY_WORDS = 6, 15
# Post length bounds (words, POST: body only).
MIN_POST_WORDS, MAX_POST_WORDS = 25, 45
# Length budgets in approximate tokens (``approx_tokens``: words and
# punctuation marks; a ~2,000-id BPE trained on this corpus gives about 4%
# more). The whole prompt stays under PROMPT_BUDGET, and prompt + any summary
# we write (reference, chosen, rejected) under SEQUENCE_BUDGET, so everything
# fits a 96-token context with a little room to spare.
PROMPT_BUDGET, SEQUENCE_BUDGET = 60, 86


@dataclass(frozen=True)
class Fact:
    """One key fact of a post: ``slot`` (see SLOTS), the ``value`` as written in
    the post, and the ``keywords`` any one of which shows a summary covers it."""
    slot: str
    value: str
    keywords: tuple[str, ...]


@dataclass
class Post:
    """One synthetic TL;DR example.

    ``reference`` is the label in CarperAI's shape (starts with a space).
    ``meta`` holds the generator's internals (counterpart gender, the problem
    and question chosen, the non-key sentences); ``comparison_pairs`` uses it
    to write re-worded and corrupted summaries. It is not part of the data.
    """
    subreddit: str
    title: str
    post: str
    facts: list[Fact]
    reference: str
    meta: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def prompt(self) -> str:
        """The CarperAI openai_summarize_tldr prompt (ends with "TL;DR:")."""
        return f"SUBREDDIT: r/{self.subreddit}\nTITLE: {self.title}\nPOST: {self.post}\n{TLDR_TAG}"

    @property
    def comparison_prompt(self) -> str:
        """The CarperAI openai_summarize_comparisons prompt (no "TL;DR:")."""
        return f"SUBREDDIT: r/{self.subreddit}\nTITLE: {self.title}\nPOST: {self.post}"


@dataclass
class Comparison:
    """One preference pair in the openai_summarize_comparisons shape.

    ``chosen``/``rejected`` are ``"TL;DR: ..."`` strings; ``reason`` says why
    chosen wins (one of REASONS; None for real data); ``post`` is the source
    Post so the judge can check the pair (None for real data).
    """
    prompt: str
    chosen: str
    rejected: str
    reason: str | None = None
    post: Post | None = field(default=None, repr=False, compare=False)

    @property
    def sft_prompt(self) -> str:
        """The prompt in the SFT shape, ending with "TL;DR:"."""
        return self.prompt + "\n" + TLDR_TAG

    @property
    def chosen_summary(self) -> str:
        """chosen without its "TL;DR:" tag, with a leading space like a label."""
        return summary_text(self.chosen)

    @property
    def rejected_summary(self) -> str:
        return summary_text(self.rejected)


def summary_text(s: str) -> str:
    """``"TL;DR: foo"`` or ``" foo"`` -> ``" foo"`` (the label shape)."""
    s = str(s).strip()
    if s[:len(TLDR_TAG)].upper() == TLDR_TAG.upper():
        s = s[len(TLDR_TAG):].strip()
    return " " + s


# ---------------------------------------------------------------------------
# Vocabularies. Counterparts: canonical name -> (aliases, gender or None).
# The judge treats every alias of a canonical name as that name, so "bf" in a
# summary of a post about a "boyfriend" is not a hallucination.
# ---------------------------------------------------------------------------

COUNTERPARTS = {
    "roommate": (("roommate", "roomie", "roommates"), None),
    "landlord": (("landlord",), None),
    "neighbour": (("neighbour", "neighbor", "neighbours", "neighbors"), None),
    "boss": (("boss", "manager", "supervisor"), None),
    "coworker": (("coworker", "coworkers", "colleague", "co worker"), None),
    "sister": (("sister",), "F"),
    "brother": (("brother",), "M"),
    "cousin": (("cousin",), None),
    "mom": (("mom", "mother", "mum"), "F"),
    "dad": (("dad", "father"), "M"),
    "boyfriend": (("boyfriend", "bf"), "M"),
    "girlfriend": (("girlfriend", "gf"), "F"),
    "husband": (("husband",), "M"),
    "wife": (("wife",), "F"),
    "friend": (("friend", "best friend", "friends", "bff"), None),
    "professor": (("professor", "prof"), None),
    "classmate": (("classmate", "classmates"), None),
    "teammate": (("teammate", "teammates"), None),
}
PARTNERS = ("boyfriend", "girlfriend", "husband", "wife")
PARENTS = ("mom", "dad")
# Ages for the optional "(26M)" tag; parents and professors are older.
_AGE = {"mom": (42, 64), "dad": (42, 64), "boss": (30, 55), "landlord": (35, 65),
        "professor": (35, 60)}
_NO_TAG = ("professor",)

# Number kinds: how a key number is drawn and which keywords show it.
MONEY = (40, 60, 80, 120, 150, 200, 250, 300, 350, 400, 450, 500, 600, 700,
         800, 900, 1200, 1500, 2000)


def _draw_number(rng: random.Random, kind: str) -> tuple[str, tuple[str, ...]]:
    """(value as written, keywords) for a number of this kind."""
    if kind == "duration":
        k, unit = rng.randint(2, 11), rng.choice(("weeks", "months"))
        return f"{k} {unit}", (f"{k} {unit}",)
    if kind == "days":
        k = rng.randint(2, 9)
        return f"{k} days", (f"{k} days",)
    if kind == "times":
        k = rng.randint(3, 12)
        return f"{k} times", (f"{k} times",)
    if kind == "money":
        v = rng.choice(MONEY)
        return f"${v}", (str(v),)
    if kind == "score":
        v = rng.randint(31, 69)
        return f"{v}%", (str(v),)
    raise ValueError(f"unknown number kind {kind!r}")


# ---------------------------------------------------------------------------
# Questions: id -> (post forms, summary forms, keywords). Placeholders:
# {he} {his} {him} {himself} take the counterpart's pronouns.
# ---------------------------------------------------------------------------

QUESTIONS = {
    "talk": (("How do I bring it up without starting a fight?",
              "How do I talk to {him} about it without making things awkward?",
              "How should I bring this up with {him}?"),
             ("how do I bring it up?", "how do I talk to {him} about it?",
              "how to bring it up without a fight?", "how do I bring this up?"),
             ("bring it up", "bring this up", "talk to", "bring up")),
    "move_out": (("Should I just move out?", "Is it time to move out?"),
                 ("should I move out?", "time to move out?", "should I just move out?"),
                 ("move out", "moving out")),
    "quit": (("Should I quit?", "Is it time to look for a new job?",
              "Should I just quit at this point?"),
             ("should I quit?", "time to find a new job?", "should I quit my job?"),
             ("quit", "new job")),
    "hr": (("Should I go to HR?", "Is this worth reporting to HR?"),
           ("should I go to HR?", "worth going to HR?", "report it to HR?"),
           ("hr",)),
    "break_up": (("Should I break up with {him}?", "Is this a reason to break up?"),
                 ("should I break up with {him}?", "should I break up?"),
                 ("break up", "breaking up")),
    "overreact": (("Am I overreacting?", "Am I being dramatic here?",
                   "AITA for being upset about this?"),
                  ("am I overreacting?", "am I being dramatic?", "AITA for being upset?"),
                  ("overreacting", "dramatic", "aita")),
    "money_back": (("How do I get my money back?",
                    "How do I ask for the money back without ruining things?"),
                   ("how do I get my money back?", "how to get the money back?"),
                   ("money back",)),
    "let_go": (("Should I just let it go?", "Is it worth it or should I let it go?"),
               ("should I let it go?", "let it go or not?"),
               ("let it go",)),
    "rights": (("What are my rights here?", "What are my legal options?"),
               ("what are my rights?", "what are my legal options?"),
               ("rights", "legal")),
    "police": (("Should I call the police?", "Is it worth calling the cops?"),
               ("should I call the police?", "call the cops?"),
               ("police", "cops")),
    "report": (("Should I report {him}?", "Would it be wrong to report {him}?"),
               ("should I report {him}?", "report {him} or not?"),
               ("report",)),
    "say_no": (("How do I say no without hurting {him}?", "How do I turn {him} down nicely?"),
               ("how do I say no?", "how to turn {him} down?"),
               ("say no", "turn him down", "turn her down")),
    "convince": (("How do I convince {him}?", "How can I change {his} mind?"),
                 ("how do I convince {him}?", "how to change {his} mind?"),
                 ("convince", "change his mind", "change her mind")),
    "kick": (("Should I kick {him} from the group?", "Is it fair to kick {him} from our team?"),
             ("should I kick {him}?", "kick {him} from the group?"),
             ("kick",)),
    "stop_playing": (("Should I stop playing with {him}?",),
                     ("should I stop playing with {him}?", "stop playing with {him}?"),
                     ("stop playing",)),
    "appeal": (("Should I appeal it?", "Is it worth emailing the dean?"),
               ("should I appeal?", "email the dean?"),
               ("appeal", "dean")),
    "pay_for": (("How do I get {him} to pay for it?",),
                ("how do I make {him} pay for it?", "how to get {him} to pay?"),
                ("pay",)),
}


# ---------------------------------------------------------------------------
# Problems. Each: topic, allowed counterparts, number kind (None: no number
# fact, so the post has 3 key facts instead of 4), post phrases (verb phrase
# after the subject), summary phrases without and with the number, keywords,
# allowed questions. Phrases with a number use {num}.
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Problem:
    key: str
    topic: str
    cps: tuple[str, ...]
    kind: str | None
    post: tuple[str, ...]
    short: tuple[str, ...]
    short_num: tuple[str, ...]
    keywords: tuple[str, ...]
    questions: tuple[str, ...]


_FAMILY = ("sister", "brother", "cousin", "mom", "dad")

PROBLEMS = (
    # housing
    _Problem("eats_food", "housing", ("roommate",), "duration",
             ("has been eating my food without asking for {num}",
              "keeps eating my groceries and it has been going on for {num}"),
             ("keeps eating my food", "eats my food without asking"),
             ("has been eating my food for {num}", "keeps eating my groceries for {num}"),
             ("food", "groceries"), ("talk", "move_out", "overreact", "let_go")),
    _Problem("never_cleans", "housing",
             ("roommate", "sister", "brother") + PARTNERS, "duration",
             ("has not cleaned the kitchen once in {num}",
              "leaves dirty dishes everywhere and it has been {num} like this"),
             ("never cleans the kitchen", "leaves dirty dishes everywhere"),
             ("has not cleaned the kitchen in {num}", "left dirty dishes everywhere for {num}"),
             ("clean", "cleans", "cleaned", "dishes", "mess"),
             ("talk", "move_out", "overreact")),
    _Problem("rent_share", "housing", ("roommate",), "money",
             ("still owes me {num} in rent", "has not paid {his} share of the rent, {num} so far"),
             ("won't pay {his} rent", "hasn't paid {his} share of the rent"),
             ("owes me {num} in rent", "hasn't paid {num} of rent"),
             ("rent",), ("talk", "move_out", "money_back")),
    _Problem("deposit", "housing", ("landlord",), "money",
             ("kept my {num} deposit for no reason", "refuses to return my {num} deposit"),
             ("kept my deposit", "won't return my deposit"),
             ("kept my {num} deposit", "won't return my {num} deposit"),
             ("deposit",), ("rights", "money_back")),
    _Problem("heating", "housing", ("landlord",), "duration",
             ("still has not fixed the broken heating after {num}",
              "has ignored our broken heater for {num}"),
             ("won't fix the heating", "ignores our broken heater"),
             ("hasn't fixed the heating in {num}", "ignored the broken heater for {num}"),
             ("heating", "heater", "heat"), ("rights", "move_out")),
    _Problem("loud_music", "housing", ("neighbour",), "duration",
             ("plays loud music every night and it has been {num}",
              "has blasted music until late every night for {num}"),
             ("plays loud music every night", "blasts music at night"),
             ("plays loud music every night for {num}", "has blasted music for {num}"),
             ("music", "loud", "noise"), ("talk", "police", "move_out")),
    _Problem("parking", "housing", ("neighbour",), "times",
             ("has parked in my spot {num} this month",
              "keeps taking my parking spot, {num} so far"),
             ("keeps parking in my spot", "takes my parking spot"),
             ("parked in my spot {num}", "took my parking spot {num}"),
             ("parking", "parked", "spot"), ("talk", "police", "let_go")),
    # work
    _Problem("weekends", "work", ("boss",), "duration",
             ("has made me work every weekend for {num}",
              "keeps scheduling me on weekends and it has been {num}"),
             ("wants me to work weekends", "makes me work every weekend"),
             ("made me work weekends for {num}", "has scheduled me on weekends for {num}"),
             ("weekend", "weekends"), ("quit", "talk", "hr")),
    _Problem("credit", "work", ("boss", "coworker"), "times",
             ("has taken credit for my work {num} now",
              "presented my work as {his} own {num} this year"),
             ("takes credit for my work", "steals credit for my work"),
             ("took credit for my work {num}", "has stolen credit for my work {num}"),
             ("credit", "own"), ("talk", "hr", "quit")),
    _Problem("texts_late", "work", ("boss",), "duration",
             ("has been texting me after hours for {num}",
              "keeps texting me on my days off, {num} now"),
             ("texts me after hours", "keeps texting me on my days off"),
             ("has texted me after hours for {num}", "keeps texting me after work for {num}"),
             ("texting", "texts", "texted", "after hours", "days off"),
             ("talk", "quit", "hr")),
    _Problem("overtime", "work", ("boss",), "money",
             ("still owes me {num} in overtime pay", "refuses to pay {num} of overtime"),
             ("won't pay my overtime", "refuses to pay overtime"),
             ("owes me {num} in overtime", "won't pay {num} of overtime"),
             ("overtime",), ("hr", "quit", "money_back")),
    _Problem("yells", "work", ("boss", "coworker", "mom", "dad"), "times",
             ("has yelled at me in front of everyone {num} this month",
              "screamed at me in front of people {num} since spring"),
             ("yells at me in front of everyone", "screams at me in public"),
             ("yelled at me {num} this month", "has screamed at me {num}"),
             ("yells", "yelled", "yelling", "screams", "screamed"),
             ("talk", "hr", "overreact")),
    _Problem("tasks", "work", ("coworker",), "duration",
             ("keeps dumping {his} tasks on me and it has been {num}",
              "has left {his} tasks for me to finish for {num}"),
             ("dumps {his} tasks on me", "makes me do {his} tasks"),
             ("dumped {his} tasks on me for {num}", "made me do {his} tasks for {num}"),
             ("tasks",), ("talk", "hr", "let_go")),
    # money and family
    _Problem("borrowed", "money",
             ("friend", "brother", "sister", "cousin", "roommate", "coworker"), "money",
             ("borrowed {num} from me and never paid it back",
              "still has not returned the {num} I lent {him}"),
             ("borrowed money and never paid it back", "won't pay me back"),
             ("borrowed {num} and never paid it back", "owes me {num}"),
             ("borrowed", "owes", "lent", "pay me back", "paid it back"),
             ("money_back", "talk", "let_go")),
    _Problem("cosign", "money", _FAMILY + ("friend",) + PARTNERS, "money",
             ("wants me to co-sign a {num} loan", "keeps pushing me to co-sign {his} {num} loan"),
             ("wants me to co-sign a loan", "pushes me to co-sign {his} loan"),
             ("wants me to co-sign a {num} loan", "wants me to co-sign {his} {num} loan"),
             ("co sign", "cosign", "loan"), ("say_no", "overreact")),
    _Problem("asks_money", "money", _FAMILY + ("friend",), "times",
             ("has asked me for money {num} this year",
              "keeps asking me for cash, {num} since summer"),
             ("keeps asking me for money", "always asks me for cash"),
             ("asked me for money {num} this year", "has asked me for cash {num}"),
             ("money", "cash"), ("say_no", "overreact", "talk")),
    _Problem("wedding", "money", ("sister", "brother", "cousin", "friend"), "money",
             ("expects me to pay {num} toward {his} wedding",
              "wants {num} from me for {his} wedding"),
             ("wants me to pay for {his} wedding", "expects money for {his} wedding"),
             ("wants me to pay {num} for {his} wedding", "expects {num} for {his} wedding"),
             ("wedding",), ("say_no", "overreact")),
    # relationships
    _Problem("phone", "relationships", PARTNERS, "duration",
             ("has been going through my phone while I sleep for {num}",
              "keeps checking my phone behind my back, {num} now"),
             ("goes through my phone", "keeps checking my phone"),
             ("has gone through my phone for {num}", "keeps checking my phone for {num}"),
             ("phone",), ("break_up", "overreact", "talk")),
    _Problem("birthday", "relationships", PARTNERS + ("friend",) + PARENTS, None,
             ("forgot my birthday again this year", "completely forgot my birthday"),
             ("forgot my birthday", "forgot my birthday again"), (),
             ("birthday",), ("overreact", "talk", "let_go")),
    _Problem("ex", "relationships", PARTNERS, "duration",
             ("still texts {his} ex every day and we have been together {num}",
              "has been secretly talking to {his} ex for {num}"),
             ("still texts {his} ex", "talks to {his} ex every day"),
             ("has talked to {his} ex for {num}", "has been texting {his} ex for {num}"),
             ("ex",), ("break_up", "overreact", "talk")),
    _Problem("move_in", "relationships", ("boyfriend", "girlfriend"), "duration",
             ("wants to move in together after only {num} of dating",
              "asked me to move in after {num} together"),
             ("wants to move in together", "asked me to move in"),
             ("wants to move in after {num}", "asked me to move in after {num}"),
             ("move in", "moving in"), ("say_no", "overreact", "talk")),
    _Problem("gaming", "gaming", PARTNERS + ("roommate", "brother"), "duration",
             ("spends every night gaming instead of helping, for {num} now",
              "has played video games all night for {num}"),
             ("spends every night gaming", "games all night instead of helping"),
             ("has spent every night gaming for {num}", "has gamed all night for {num}"),
             ("gaming", "games", "gamed"), ("talk", "overreact", "break_up")),
    # school
    _Problem("group_project", "school", ("classmate",), "days",
             ("won't do {his} part of our group project and it is due in {num}",
              "ignores our group project even though it is due in {num}"),
             ("won't do {his} part of the project", "is slacking on our group project"),
             ("won't do {his} part of the project due in {num}",
              "ignores our project due in {num}"),
             ("project",), ("report", "talk")),
    _Problem("homework", "school", ("classmate", "roommate", "friend"), None,
             ("copied my homework and now we both got flagged",
              "copied my homework without asking"),
             ("copied my homework", "copied my homework and got us flagged"), (),
             ("homework", "copied"), ("report", "overreact", "talk")),
    _Problem("grade", "school", ("professor",), "score",
             ("gave me a {num} on an essay I worked really hard on",
              "graded my paper {num} with almost no comments"),
             ("gave me an unfair grade", "graded my essay unfairly"),
             ("gave me a {num} on my essay", "graded my paper {num}"),
             ("grade", "graded", "essay", "paper"), ("appeal", "talk", "overreact")),
    # pets
    _Problem("no_cat", "pets", ("roommate", "landlord") + PARTNERS + PARENTS, None,
             ("refuses to let me adopt a cat", "says no to me getting a cat"),
             ("won't let me get a cat", "won't let me adopt a cat"), (),
             ("cat", "adopt"), ("convince", "overreact")),
    _Problem("walks", "pets", ("roommate", "brother", "sister"), "times",
             ("promised to walk my dog while I work but skipped it {num}",
              "forgot to walk my dog {num} this month"),
             ("won't walk my dog", "keeps skipping my dog's walks"),
             ("skipped walking my dog {num}", "forgot to walk my dog {num}"),
             ("walk", "walks", "walking"), ("talk", "let_go")),
    _Problem("scraps", "pets", ("roommate", "boyfriend", "girlfriend") + PARENTS, None,
             ("feeds my dog table scraps even though the vet said not to",
              "keeps sneaking my dog scraps from the table"),
             ("feeds my dog scraps", "keeps feeding my dog table scraps"), (),
             ("scraps", "feeds", "feeding"), ("talk", "convince", "overreact")),
    # health
    _Problem("doctor", "health", PARTNERS + PARENTS, "duration",
             ("has had a bad cough for {num} but refuses to see a doctor",
              "won't see a doctor about a cough that has lasted {num}"),
             ("won't see a doctor about {his} cough", "refuses to see a doctor"),
             ("has had a cough for {num} and won't see a doctor",
              "has ignored a cough for {num}"),
             ("doctor", "cough"), ("convince", "talk")),
    _Problem("drinking", "health", PARTNERS + PARENTS + ("brother", "roommate"), "duration",
             ("drinks every night and gets mean, it has been {num}",
              "has been drinking heavily for {num}"),
             ("drinks every night", "has a drinking problem"),
             ("has been drinking every night for {num}", "has been drinking heavily for {num}"),
             ("drinks", "drinking", "drunk"), ("talk", "convince", "break_up")),
    # gaming
    _Problem("rage_quits", "gaming", ("teammate", "friend", "brother"), "times",
             ("has rage quit our ranked matches {num} this week",
              "rage quits every time we lose, {num} this week"),
             ("rage quits every match", "keeps rage quitting"),
             ("rage quit {num} this week", "has rage quit our matches {num}"),
             ("rage",), ("kick", "stop_playing", "talk")),
    _Problem("raids", "gaming", ("teammate", "friend"), "times",
             ("has skipped our raid nights {num} without telling anyone",
              "missed our raids {num} in a row"),
             ("keeps skipping our raids", "never shows up to raid night"),
             ("skipped our raids {num}", "missed raid night {num}"),
             ("raid", "raids"), ("kick", "talk")),
    _Problem("console", "gaming", ("brother", "roommate", "cousin", "friend"), "money",
             ("broke my {num} console and won't replace it",
              "dropped my {num} console and acts like it is nothing"),
             ("broke my console", "broke my console and won't replace it"),
             ("broke my {num} console", "wrecked my {num} console"),
             ("console",), ("pay_for", "talk")),
)

# Which questions fit which counterparts (others fit everyone).
_QUESTION_CPS = {"break_up": PARTNERS, "move_out": ("roommate", "landlord", "neighbour")
                 + PARTNERS + PARENTS + ("sister", "brother")}

SUBREDDITS = {
    "housing": ("roommates", "Advice", "relationship_advice", "legaladvice"),
    "work": ("jobs", "careerguidance", "Advice", "antiwork"),
    "money": ("personalfinance", "Advice", "relationship_advice", "AmItheAsshole"),
    "relationships": ("relationships", "relationship_advice", "dating_advice"),
    "school": ("college", "Advice", "GradSchool"),
    "pets": ("dogs", "cats", "Pets", "Advice"),
    "health": ("Advice", "relationships", "AskDocs"),
    "gaming": ("gaming", "leagueoflegends", "Advice", "relationships"),
}

# Non-key sentences: they carry no key fact. Context sentences may mention
# people ("my friends") but never a number.
CONTEXT = (
    "I have tried dropping hints but nothing changes.",
    "Everyone I ask tells me something different.",
    "It is starting to affect my sleep.",
    "I really don't want to make things awkward.",
    "We used to get along really well.",
    "Honestly I am exhausted.",
    "Last time I mentioned it {he} just laughed.",
    "{He} says it is not a big deal.",
    "My friends think I should just ignore it.",
    "I am usually pretty easygoing about this stuff.",
    "It feels petty but it keeps bugging me.",
    "I don't know if this is normal or not.",
    "Otherwise {he} is a nice person.",
    "I hate confrontation so I have said nothing.",
    "It came to a head last night.",
    "I feel like I am going crazy.",
)
FILLER_START = (
    "Throwaway because {he} knows my main.",
    "Long time lurker, first post.",
    "Not sure if this is the right sub.",
    "Sorry for formatting, on mobile.",
    "English is not my first language, sorry.",
)
FILLER_END = (
    "Edit: thanks for all the replies so far.",
    "Sorry for the rant.",
    "Thanks in advance.",
    "Sorry for formatting, on mobile.",
)
INTROS = (
    "So my {cp}{tag} and I have a problem.",
    "I{me} need some outside perspective on my {cp}{tag}.",
    "Some context: my {cp}{tag} and I usually get along fine.",
    "I{me} have known my {cp}{tag} for years.",
    "This is about my {cp}{tag}.",
)
TITLES = (
    "{Cp} {short}", "My {cp}{tag} {short}", "[Help] {Cp} {short}",
    "{Cp} {short}, advice?", "Need advice about my {cp}", "Not sure how to handle my {cp}",
    "{Cp} problems", "Is this normal?", "Help!", "Am I overreacting?",
)
GENERIC = (
    "need advice about my situation.",
    "having some problems and not sure what to do, any advice?",
    "things are complicated and I need help with it.",
    "long story, please help me figure this out.",
    "something happened and I need advice on it.",
    "stuck in a bad situation, what should I do?",
)
GENERIC_CP = (
    "problems with my {cp}, need advice.",
    "my {cp} is being difficult, what should I do?",
    "{cp} drama, not sure what to do.",
)
PADDING = (
    "So basically, long story short,", "Okay so this is kind of a long one but",
    "Not sure how to say this but", "Anyway, to sum it all up,",
)
# Hallucinated additions: a new person or number the post never mentions.
HALLU_CP = ("and my {cp2} agrees with me", "and my {cp2} thinks I'm overreacting",
            "and now my {cp2} is involved too", "and my {cp2} took {his} side")
HALLU_NUM = ("even after {k} warnings", "and {he} owes me ${v} too",
             "after {k} arguments about it")


# ---------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_DIGITS = re.compile(r"\d+")


def _norm(text: str) -> str:
    """Lower case, apostrophes dropped, other punctuation -> space, padded.

    Padding with spaces lets ``" kw " in _norm(text)`` match whole words and
    phrases only ("ex" does not match "next").
    """
    # "roommate's" -> "roommate": possessives name the same person.
    text = re.sub(r"'s\b", "", str(text).lower().replace("’", "'")).replace("'", "")
    return " " + " ".join(_NON_ALNUM.sub(" ", text).split()) + " "


def _has(normed: str, keyword: str) -> bool:
    return (" " + keyword.strip() + " ") in normed if keyword.strip() else False


_TOKENISH = re.compile(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]")


def approx_tokens(text: str) -> int:
    """Words plus punctuation marks: a tokenizer-free proxy for length."""
    return len(_TOKENISH.findall(str(text)))


def _words(text: str) -> int:
    return len(str(text).split())


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _pron(gender: str) -> dict:
    if gender == "M":
        return {"he": "he", "He": "He", "his": "his", "him": "him", "himself": "himself"}
    return {"he": "she", "He": "She", "his": "her", "him": "her", "himself": "herself"}


def _fill(template: str, **kw) -> str:
    return template.format(**kw)


# Alias (normalised, one or two words) -> canonical counterpart.
_ALIAS = {_norm(a).strip(): c for c, (aliases, _) in COUNTERPARTS.items() for a in aliases}


def _counterparts_in(normed: str) -> set[str]:
    """Canonical counterparts named in a normalised text (whole words only)."""
    words = normed.split()
    grams = set(words) | {a + " " + b for a, b in zip(words, words[1:])}
    return {_ALIAS[g] for g in grams if g in _ALIAS}


def _numbers_in(text: str) -> set[str]:
    # Leading zeros dropped so "05" and "5" are the same number.
    return {str(int(d)) for d in _DIGITS.findall(str(text))}


@lru_cache(maxsize=1 << 16)
def _body_terms(body: str) -> tuple[frozenset, frozenset]:
    """(counterparts, numbers) of a post body, cached: pairs judge a post often."""
    return frozenset(_counterparts_in(_norm(body))), frozenset(_numbers_in(body))


@lru_cache(maxsize=1 << 12)
def _norm_keyword(keyword: str) -> str:
    return _norm(keyword).strip()


# ---------------------------------------------------------------------------
# The independent judge
# ---------------------------------------------------------------------------

def _body(post: Post) -> str:
    return post.title + " " + post.post


def fact_coverage(post: Post, summary: str) -> float:
    """Share of ``post.facts`` whose keywords appear in ``summary`` (0..1).

    Case and punctuation are ignored; a "TL;DR:" tag is stripped; an empty or
    whitespace summary covers nothing.
    """
    if not post.facts:
        raise ValueError("post has no key facts (real data cannot be judged)")
    normed = _norm(summary_text(summary))
    hit = sum(any(_has(normed, _norm_keyword(k)) for k in f.keywords) for f in post.facts)
    return hit / len(post.facts)


def hallucinated_terms(post: Post, summary: str) -> list[str]:
    """Counterparts (canonical names) and numbers in ``summary`` absent from the post.

    Checked against the title and the post body. Only this generator's
    vocabularies are known: counterparts (with aliases, see COUNTERPARTS) and
    numbers written in digits ("three" is not checked; the generator never
    spells numbers out, so a model trained on it rarely does).
    """
    text = summary_text(summary)
    body_cps, body_nums = _body_terms(_body(post))
    extra_cps = _counterparts_in(_norm(text)) - body_cps
    extra_nums = _numbers_in(text) - body_nums
    return sorted(extra_cps) + sorted(extra_nums, key=int)


def hallucination(post: Post, summary: str) -> bool:
    """True when the summary names a counterpart or number the post never mentions."""
    return bool(hallucinated_terms(post, summary))


def judge_score(post: Post, summary: str) -> float:
    """One number for "how good is this summary" by the judge.

    coverage - 1 if hallucinated - 0.01 per word: facts matter most, a made-up
    fact costs more than any fact earns, and among equally faithful summaries
    the shorter wins. Every reason in REASONS makes chosen score higher.
    """
    return (fact_coverage(post, summary) - float(hallucination(post, summary))
            - 0.01 * _words(summary_text(summary)))


def judge_summaries(posts, summaries) -> dict:
    """Means over a batch: coverage, full_coverage_rate, hallucination_rate,
    mean_words, score (``judge_score``), and n."""
    posts, summaries = list(posts), list(summaries)
    if len(posts) != len(summaries):
        raise ValueError(f"{len(posts)} posts but {len(summaries)} summaries")
    if not posts:
        raise ValueError("need at least one post")
    cov = [fact_coverage(p, s) for p, s in zip(posts, summaries)]
    hal = [hallucination(p, s) for p, s in zip(posts, summaries)]
    words = [_words(summary_text(s)) for s in summaries]
    n = len(posts)
    return {
        "n": n,
        "coverage": sum(cov) / n,
        "full_coverage_rate": sum(c == 1.0 for c in cov) / n,
        "hallucination_rate": sum(hal) / n,
        "mean_words": sum(words) / n,
        "score": sum(c - h - 0.01 * w for c, h, w in zip(cov, hal, words)) / n,
    }


# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------

def _tag(rng: random.Random, cp: str, gender: str) -> str:
    lo, hi = _AGE.get(cp, (17, 34))
    return f" ({rng.randint(lo, hi)}{gender})"


def _one_post(rng: random.Random) -> Post | None:
    """One post, or None when this draw cannot meet the length bounds."""
    prob = rng.choice(PROBLEMS)
    cp = rng.choice(prob.cps)
    gender = COUNTERPARTS[cp][1] or rng.choice("MF")
    pr = _pron(gender)
    qs = [q for q in prob.questions if cp in _QUESTION_CPS.get(q, (cp,))]
    qid = rng.choice(qs)
    num, num_kw = _draw_number(rng, prob.kind) if prob.kind else (None, ())
    cp_tag = _tag(rng, cp, gender) if cp not in _NO_TAG and rng.random() < 0.5 else ""
    me_tag = f" ({rng.randint(17, 34)}{rng.choice('MF')})" if rng.random() < 0.4 else ""

    q_post = _fill(rng.choice(QUESTIONS[qid][0]), **pr)
    phrase = _fill(rng.choice(prob.post), num=num, **pr)
    intro = None
    if rng.random() < 0.5:
        intro = _fill(rng.choice(INTROS), cp=cp, tag=cp_tag, me=me_tag)
        problem_sent = _cap(f"{pr['he']} {phrase}.")
    else:
        problem_sent = f"My {cp}{cp_tag} {phrase}."
    context = [_fill(s, **pr) for s in rng.sample(CONTEXT, 3)]
    start = _fill(rng.choice(FILLER_START), **pr) if rng.random() < 0.3 else None
    end = rng.choice(FILLER_END) if rng.random() < 0.25 else None

    sub = rng.choice(SUBREDDITS[prob.topic])
    if qid == "overreact" and rng.random() < 0.5:
        sub = "AmItheAsshole"
    short = _fill(rng.choice(prob.short), **pr)
    title = _fill(rng.choice(TITLES), cp=cp, Cp=_cap(cp), tag=cp_tag, short=short)
    head = approx_tokens(f"SUBREDDIT: r/{sub}\nTITLE: {title}\nPOST: \n{TLDR_TAG}")
    # Fit the body to [MIN_POST_WORDS, MAX_POST_WORDS] words and the prompt
    # to PROMPT_BUDGET: first add context while too short, then drop optional
    # sentences while too long (never both, so this always ends); a draw that
    # cannot fit is redrawn by the caller.
    n_ctx, grown = rng.randint(1, 2), False

    def build():
        sents = [s for s in (start, intro, problem_sent) if s] + context[:n_ctx] + [q_post]
        return " ".join(sents + ([end] if end else []))

    body = build()
    while _words(body) < MIN_POST_WORDS and n_ctx < len(context):
        n_ctx, grown = n_ctx + 1, True
        body = build()
    while _words(body) > MAX_POST_WORDS or head + approx_tokens(body) > PROMPT_BUDGET:
        if n_ctx > 1 and not grown:
            n_ctx -= 1
        elif end:
            end = None
        elif start:
            start = None
        elif intro:
            intro, problem_sent = None, f"My {cp}{cp_tag} {phrase}."
        else:
            return None
        body = build()
    if _words(body) < MIN_POST_WORDS:
        return None

    facts = [Fact("counterpart", cp, COUNTERPARTS[cp][0]),
             Fact("problem", prob.key, prob.keywords)]
    if num is not None:
        facts.append(Fact("number", num, num_kw))
    facts.append(Fact("question", qid, QUESTIONS[qid][2]))

    non_key = [s for s in (start,) if s] + context[:n_ctx] + [s for s in (end,) if s]
    meta = {"problem": prob, "cp": cp, "gender": gender, "qid": qid, "num": num,
            "cp_tag": cp_tag, "non_key": non_key}
    post = Post(sub, title, body, facts, "", meta)
    try:
        post.reference = " " + _render(rng, post)
    except RuntimeError:
        return None  # no wording fits the length bounds: redraw the post
    return post


def _render(rng: random.Random, post: Post, omit: str | None = None,
            cp: str | None = None, num: str | None = None, extra: str | None = None,
            bounds: bool = True) -> str:
    """A summary of ``post`` (no leading space), drawn from several wordings.

    ``omit`` drops one slot; ``cp``/``num`` replace the counterpart/number
    (hallucinations); ``extra`` is appended to the problem phrase. With
    ``bounds`` the result has MIN..MAX_SUMMARY_WORDS words (redrawn if not).
    """
    m = post.meta
    prob, pr = m["problem"], _pron(m["gender"])
    for _ in range(50):
        if cp is None:
            alias = m["cp"] if rng.random() < 0.75 else rng.choice(COUNTERPARTS[m["cp"]][0][:2])
            alias += m["cp_tag"] if m["cp_tag"] and rng.random() < 0.35 else ""
        else:
            alias = cp
        c = ("my " + alias) if rng.random() < 0.5 else alias
        number = num or m["num"]
        if omit == "problem":
            p = (f"has been a problem for {number}" if prob.kind == "duration"
                 else rng.choice(("is being difficult", "is causing issues")))
        elif number is not None and omit != "number":
            p = _fill(rng.choice(prob.short_num), num=number, **pr)
        else:
            p = _fill(rng.choice(prob.short), **pr)
        if extra:
            p += " " + extra
        q = _fill(rng.choice(QUESTIONS[m["qid"]][1]), **pr)
        if omit == "counterpart":
            c = ""
        if omit == "question":
            s = f"{c} {p}.".strip()
        else:
            form = rng.randrange(4)
            if form == 0:
                s = f"{c} {p}, {q}"
            elif form == 1:
                s = f"{_cap((c + ' ' + p).strip())}. {_cap(q)}"
            elif form == 2:
                s = f"{_cap(q)} {c} {p}."
            else:
                s = f"{c} {p} - {q}"
        s = " ".join(s.split())
        # Real TL;DRs often start in lower case; "I" and "AITA" stay as they are.
        if rng.random() < 0.6 and not s.startswith(("I ", "AITA")):
            s = s[:1].lower() + s[1:]
        else:
            s = _cap(s)
        if not bounds or MIN_SUMMARY_WORDS <= _words(s) <= MAX_SUMMARY_WORDS:
            return s
    # Rare long combinations: the shortest wording of every part.
    shortest = lambda forms: min(forms, key=lambda f: _words(f))  # noqa: E731
    number = num or m["num"]
    if number is not None and omit is None:
        p = _fill(shortest(prob.short_num), num=number, **pr)
    else:
        p = _fill(shortest(prob.short), **pr)
    s = f"{cp or m['cp']} {p}, {_fill(shortest(QUESTIONS[m['qid']][1]), **pr)}"
    if omit is None and extra is None and MIN_SUMMARY_WORDS <= _words(s) <= MAX_SUMMARY_WORDS:
        return s
    raise RuntimeError(f"could not render a summary within bounds for {post.title!r}")


def generate_posts(n: int, seed: int = 0) -> list[Post]:
    """``n`` synthetic posts, deterministic in ``seed``.

    A few prompts may repeat (well under 1%); ``split_posts`` dedupes.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        p = _one_post(rng)
        if p is not None:  # a draw that cannot meet the length bounds is redrawn
            out.append(p)
    return out


def split_posts(posts, val_frac: float = 0.05, test_frac: float = 0.05,
                seed: int = 0) -> dict[str, list[Post]]:
    """Dedupe by prompt, shuffle with ``seed``, cut into train/val/test.

    Deduping first guarantees that no prompt is in two splits.
    """
    _check_frac("val_frac", val_frac)
    _check_frac("test_frac", test_frac)
    if val_frac + test_frac >= 1.0:
        raise ValueError(f"val_frac + test_frac must be < 1, got {val_frac + test_frac!r}")
    seen, unique = set(), []
    for p in posts:
        if p.prompt not in seen:
            seen.add(p.prompt)
            unique.append(p)
    random.Random(seed).shuffle(unique)
    n_val = int(round(len(unique) * val_frac))
    n_test = int(round(len(unique) * test_frac))
    return {"train": unique[n_val + n_test:], "val": unique[:n_val],
            "test": unique[n_val:n_val + n_test]}


def load_summaries(n: int = 20_000, seed: int = 0, val_frac: float = 0.05,
                   test_frac: float = 0.05) -> dict[str, list[Post]]:
    """``generate_posts(n, seed)`` then ``split_posts``: keys train/val/test."""
    return split_posts(generate_posts(n, seed), val_frac, test_frac, seed)


def sft_rows(posts) -> list[tuple[str, str]]:
    """(prompt, label) pairs in the openai_summarize_tldr shape."""
    return [(p.prompt, p.reference) for p in posts]


# ---------------------------------------------------------------------------
# Comparison pairs
# ---------------------------------------------------------------------------

def _other_cp(rng: random.Random, post: Post) -> str:
    present = _body_terms(_body(post))[0]
    return rng.choice([c for c in COUNTERPARTS if c not in present])


def _other_number(rng: random.Random, post: Post, kind: str) -> str:
    used = _body_terms(_body(post))[1]
    for _ in range(100):
        value, _ = _draw_number(rng, kind)
        if not (_numbers_in(value) & used):
            return value
    raise RuntimeError("no unused number")


def _rejected(rng: random.Random, post: Post, reason: str) -> str:
    m = post.meta
    pr = _pron(m["gender"])
    if reason == "missing_fact":
        omit = rng.choice([f.slot for f in post.facts])
        return _render(rng, post, omit=omit, bounds=False)
    if reason == "hallucination":
        modes = ("swap_cp", "swap_num", "add") if m["num"] else ("swap_cp", "add")
        if m["cp_tag"]:
            modes += ("swap_age",)  # "(41M)" for a 48-year-old: a common invention of our SFT model
        mode = rng.choice(modes)
        if mode == "swap_cp":
            return _render(rng, post, cp=_other_cp(rng, post), bounds=False)
        if mode == "swap_age":
            used = _body_terms(_body(post))[1]
            tag = next(t for t in (_tag(rng, m["cp"], m["gender"]) for _ in range(100))
                       if not (_numbers_in(t) & used))
            return _render(rng, post, cp=m["cp"] + tag, bounds=False)
        if mode == "swap_num":
            kind = m["problem"].kind
            return _render(rng, post, num=_other_number(rng, post, kind), bounds=False)
        if rng.random() < 0.5:
            extra = _fill(rng.choice(HALLU_CP), cp2=_other_cp(rng, post), **pr)
        else:
            v = _other_number(rng, post, "money")[1:]
            k = _other_number(rng, post, "times").split()[0]
            extra = _fill(rng.choice(HALLU_NUM), k=k, v=v, **pr)
        return _render(rng, post, extra=extra, bounds=False)
    if reason == "verbose":
        base = _render(rng, post)
        copied = rng.sample(m["non_key"], min(len(m["non_key"]), rng.randint(1, 2)))
        if rng.random() < 0.4:
            return f"{rng.choice(PADDING)} {base[:1].lower() + base[1:]} {' '.join(copied)}"
        return f"{' '.join(copied)} {base}" if rng.random() < 0.5 else f"{base} {' '.join(copied)}"
    if reason == "generic":
        if rng.random() < 0.3:
            return _fill(rng.choice(GENERIC_CP), cp=m["cp"])
        return rng.choice(GENERIC)
    raise ValueError(f"reason must be one of {REASONS}, got {reason!r}")


def _wrong_fact(rng: random.Random, post: Post) -> tuple[str, str]:
    """(chosen, rejected) for "wrong_fact": one fact left out vs the same fact stated wrongly."""
    slot = "number" if post.meta["num"] and rng.random() < 0.75 else "counterpart"
    chosen = _render(rng, post, omit=slot, bounds=False)
    if slot == "number":
        rejected = _render(rng, post, num=_other_number(rng, post, post.meta["problem"].kind), bounds=False)
    else:
        rejected = _render(rng, post, cp=_other_cp(rng, post), bounds=False)
    return chosen, rejected


def _pair_ok(post: Post, chosen: str, rejected: str, reason: str) -> bool:
    """The stated reason holds by the judge (a construction check: a rare
    accidental keyword overlap makes us redraw, it never relabels a pair)."""
    if chosen == rejected or min(_words(chosen), _words(rejected)) < 5:  # trlx drops < 5-word summaries
        return False
    if approx_tokens(post.prompt + " " + rejected) > SEQUENCE_BUDGET:
        return False
    cov_c, cov_r = fact_coverage(post, chosen), fact_coverage(post, rejected)
    hal_r = hallucination(post, rejected)
    if hallucination(post, chosen):
        return False
    if reason == "wrong_fact":  # both miss the same fact; only rejected makes one up
        return cov_c < 1.0 and cov_r == cov_c and hal_r
    if cov_c != 1.0:
        return False
    if reason == "missing_fact" or reason == "generic":
        return cov_r < cov_c and not hal_r
    if reason == "hallucination":
        return hal_r
    if reason == "verbose":
        return cov_r == cov_c and not hal_r and _words(rejected) >= _words(chosen) + 5
    return False


def comparison_pairs(posts, n_pairs: int | None = None, seed: int = 0,
                     reasons: tuple[str, ...] = REASONS) -> list[Comparison]:
    """Preference pairs with balanced ``reasons`` (counts differ by at most one).

    Each (post, reason) is used at most once, so ``n_pairs`` <= len(reasons) * len(posts);
    ``None`` means one pair per post. About 0.6% of posts leave no room for a
    verbose rejection within SEQUENCE_BUDGET and are skipped for that reason,
    so right at the limit a ValueError may say fewer pairs are possible.

    Chosen summaries are fresh renderings that cover every key fact (6-15
    words), except for "wrong_fact", where chosen leaves out the fact that
    rejected gets wrong; rejected ones are wrong for the stated reason (checked
    with the judge, see ``_pair_ok``). Strings are ``"TL;DR: ..."`` as in CarperAI's
    data; ``Comparison.chosen_summary`` gives the label-shaped text.
    """
    posts = list(posts)
    if not posts:
        raise ValueError("need at least one post")
    if any(not p.meta for p in posts):
        raise ValueError("comparison_pairs needs generated posts (with meta), not loaded rows")
    if n_pairs is None:
        n_pairs = len(posts)
    if not isinstance(n_pairs, int) or isinstance(n_pairs, bool) or n_pairs <= 0:
        raise ValueError(f"n_pairs must be a positive integer, got {n_pairs!r}")
    reasons = tuple(reasons)
    unknown = [r for r in reasons if r not in REASONS]
    if not reasons or unknown or len(set(reasons)) != len(reasons):
        raise ValueError(f"reasons must be distinct names from {REASONS}, got {reasons!r}")
    if n_pairs > len(reasons) * len(posts):
        raise ValueError(f"n_pairs={n_pairs} > {len(reasons)} reasons x {len(posts)} posts")
    rng = random.Random(seed)
    out = []
    for i, reason in enumerate(reasons):
        k = n_pairs // len(reasons) + (i < n_pairs % len(reasons))
        got = []
        for idx in rng.sample(range(len(posts)), len(posts)):
            if len(got) == k:
                break
            pair = _make_pair(rng, posts[idx], reason)
            if pair is not None:  # None: e.g. a post too long for a verbose pair
                got.append(pair)
        if len(got) < k:
            raise ValueError(f"only {len(got)} {reason!r} pairs possible from "
                             f"{len(posts)} posts, {k} needed for n_pairs={n_pairs}")
        out += got
    rng.shuffle(out)
    return out


def _make_pair(rng: random.Random, post: Post, reason: str) -> Comparison | None:
    """One pair for ``reason``, or None if 30 draws found none that fits."""
    for _ in range(30):
        try:
            if reason == "wrong_fact":
                chosen, rejected = _wrong_fact(rng, post)
            else:
                chosen, rejected = _render(rng, post), _rejected(rng, post, reason)
        except RuntimeError:  # no wording fits the bounds this time
            continue
        if _pair_ok(post, chosen, rejected, reason):
            return Comparison(post.comparison_prompt, f"{TLDR_TAG} {chosen}",
                              f"{TLDR_TAG} {rejected}", reason, post)
    return None


# ---------------------------------------------------------------------------
# The real datasets (Hugging Face Hub, cache, or local files in their schema)
# ---------------------------------------------------------------------------

TLDR_SPLITS = ("train", "valid", "test")
COMPARISON_SPLITS = ("train", "valid1", "valid2", "test")


def _split_files(data_dir: str, splits) -> dict[str, str]:
    """{split: path} for the ``{split}.jsonl|json|csv`` files present; train is required.

    (``data._local_split_files`` knows only train/test and needs both.)
    """
    if not os.path.isdir(data_dir):
        raise FileNotFoundError(f"no directory {data_dir!r}")
    files = {}
    for split in splits:
        for ext in ("jsonl", "json", "csv"):
            path = os.path.join(data_dir, f"{split}.{ext}")
            if os.path.exists(path):
                files[split] = path
                break
    if "train" not in files:
        raise FileNotFoundError(f"no train.jsonl, train.json or train.csv in {data_dir!r}")
    return files


def _datasets():
    try:
        return _import_datasets()
    except ImportError as e:
        raise ImportError("loading the CarperAI TL;DR data from the Hub needs the 'datasets' "
                          "package: pip install -e \".[hf]\" (or read local files in the CarperAI "
                          "schemas: data_dir=, or --tldr-dir / --comparisons-dir on the command line)") from None


def _load_rows(name: str, data_dir: str | None, use_datasets: bool | None,
               splits) -> dict[str, list[dict]]:
    """Rows as dicts, split by split, from the Hub or from ``data_dir``."""
    if data_dir is None:
        ds = _datasets().load_dataset(name)
        return {split: [dict(r) for r in ds[split]] for split in ds}
    files = _split_files(data_dir, splits)
    if use_datasets is None:
        try:
            import datasets  # noqa: F401
            use_datasets = True
        except ImportError:
            use_datasets = False
    if not use_datasets:
        return {split: _read_local_rows(p) for split, p in files.items()}
    datasets = _datasets()
    out = {}
    for split, path in files.items():
        builder = "csv" if path.endswith(".csv") else "json"
        ds = datasets.load_dataset(builder, data_files={split: path}, split=split)
        out[split] = [dict(r) for r in ds]
    return out


def _field(row: dict, key: str) -> str:
    value = row.get(key)
    if value is None or not str(value).strip():
        raise ValueError(f"row has no {key!r}: {row!r}")
    return str(value)


def load_hf_tldr(name: str = "CarperAI/openai_summarize_tldr", data_dir: str | None = None,
                 use_datasets: bool | None = None) -> dict[str, list[tuple[str, str]]]:
    """{split: [(prompt, label), ...]} of openai_summarize_tldr.

    ``data_dir`` holds local ``train``/``valid``/``test`` files (``.jsonl``,
    ``.json`` or ``.csv``; train required) with columns ``prompt``, ``label``.
    They are read through ``datasets.load_dataset("json", ...)`` when
    ``datasets`` is installed, else by a pure-Python reader (``use_datasets``
    forces one). Without ``data_dir`` the Hub (or its cache) is used and
    ``datasets`` is required. Strings are kept verbatim. No key facts: the
    judge cannot score these rows.
    """
    rows = _load_rows(name, data_dir, use_datasets, TLDR_SPLITS)
    return {split: [(_field(r, "prompt"), _field(r, "label")) for r in rs]
            for split, rs in rows.items()}


def load_hf_comparisons(name: str = "CarperAI/openai_summarize_comparisons",
                        data_dir: str | None = None, use_datasets: bool | None = None,
                        ) -> dict[str, list[Comparison]]:
    """{split: [Comparison, ...]} of openai_summarize_comparisons.

    Local files: ``train``/``valid1``/``valid2``/``test`` (train required),
    columns ``prompt``, ``chosen``, ``rejected``. Rows come back verbatim as
    ``Comparison(prompt, chosen, rejected, reason=None, post=None)``; the real
    data has a few pairs with chosen == rejected, which are kept (filter them
    if you train on them, as trlx does).
    """
    rows = _load_rows(name, data_dir, use_datasets, COMPARISON_SPLITS)
    return {split: [Comparison(_field(r, "prompt"), _field(r, "chosen"), _field(r, "rejected"))
                    for r in rs]
            for split, rs in rows.items()}
