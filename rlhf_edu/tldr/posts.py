"""A miniature Reddit TL;DR task: the posts and their reference summaries.

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

Because we built each post, we know its KEY FACTS (``Post.facts``: slot, value, surface
keywords). That gives an independent judge (``judge.py``); ``comparisons.py`` writes preference
pairs with a stated reason; ``carperai.py`` loads the real data, whose rows have no key facts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..files import check_frac
from .phrases import (
    AGE_RANGES,
    CONTEXT,
    COUNTERPARTS,
    FILLER_END,
    FILLER_START,
    INTROS,
    NO_AGE_TAG,
    PROBLEMS,
    QUESTION_CPS,
    QUESTIONS,
    SUBREDDITS,
    TITLES,
    draw_number,
)
from .text import approx_tokens, capitalise, fill_template, pronouns, word_count

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
# Generation
# ---------------------------------------------------------------------------

def age_tag(rng: random.Random, cp: str, gender: str) -> str:
    lo, hi = AGE_RANGES.get(cp, (17, 34))
    return f" ({rng.randint(lo, hi)}{gender})"


def _one_post(rng: random.Random) -> Post | None:
    """One post, or None when this draw cannot meet the length bounds."""
    prob = rng.choice(PROBLEMS)
    cp = rng.choice(prob.cps)
    gender = COUNTERPARTS[cp][1] or rng.choice("MF")
    pr = pronouns(gender)
    qs = [q for q in prob.questions if cp in QUESTION_CPS.get(q, (cp,))]
    qid = rng.choice(qs)
    num, num_kw = draw_number(rng, prob.kind) if prob.kind else (None, ())
    cp_tag = age_tag(rng, cp, gender) if cp not in NO_AGE_TAG and rng.random() < 0.5 else ""
    me_tag = f" ({rng.randint(17, 34)}{rng.choice('MF')})" if rng.random() < 0.4 else ""

    q_post = fill_template(rng.choice(QUESTIONS[qid][0]), **pr)
    phrase = fill_template(rng.choice(prob.post), num=num, **pr)
    intro = None
    if rng.random() < 0.5:
        intro = fill_template(rng.choice(INTROS), cp=cp, tag=cp_tag, me=me_tag)
        problem_sent = capitalise(f"{pr['he']} {phrase}.")
    else:
        problem_sent = f"My {cp}{cp_tag} {phrase}."
    context = [fill_template(s, **pr) for s in rng.sample(CONTEXT, 3)]
    start = fill_template(rng.choice(FILLER_START), **pr) if rng.random() < 0.3 else None
    end = rng.choice(FILLER_END) if rng.random() < 0.25 else None

    sub = rng.choice(SUBREDDITS[prob.topic])
    if qid == "overreact" and rng.random() < 0.5:
        sub = "AmItheAsshole"
    short = fill_template(rng.choice(prob.short), **pr)
    title = fill_template(rng.choice(TITLES), cp=cp, Cp=capitalise(cp), tag=cp_tag, short=short)
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
    while word_count(body) < MIN_POST_WORDS and n_ctx < len(context):
        n_ctx, grown = n_ctx + 1, True
        body = build()
    while word_count(body) > MAX_POST_WORDS or head + approx_tokens(body) > PROMPT_BUDGET:
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
    if word_count(body) < MIN_POST_WORDS:
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
        post.reference = " " + render_summary(rng, post)
    except RuntimeError:
        return None  # no wording fits the length bounds: redraw the post
    return post


def render_summary(rng: random.Random, post: Post, omit: str | None = None,
            cp: str | None = None, num: str | None = None, extra: str | None = None,
            bounds: bool = True) -> str:
    """A summary of ``post`` (no leading space), drawn from several wordings.

    ``omit`` drops one slot; ``cp``/``num`` replace the counterpart/number
    (hallucinations); ``extra`` is appended to the problem phrase. With
    ``bounds`` the result has MIN..MAX_SUMMARY_WORDS words (redrawn if not).
    """
    m = post.meta
    prob, pr = m["problem"], pronouns(m["gender"])
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
            p = fill_template(rng.choice(prob.short_num), num=number, **pr)
        else:
            p = fill_template(rng.choice(prob.short), **pr)
        if extra:
            p += " " + extra
        q = fill_template(rng.choice(QUESTIONS[m["qid"]][1]), **pr)
        if omit == "counterpart":
            c = ""
        if omit == "question":
            s = f"{c} {p}.".strip()
        else:
            form = rng.randrange(4)
            if form == 0:
                s = f"{c} {p}, {q}"
            elif form == 1:
                s = f"{capitalise((c + ' ' + p).strip())}. {capitalise(q)}"
            elif form == 2:
                s = f"{capitalise(q)} {c} {p}."
            else:
                s = f"{c} {p} - {q}"
        s = " ".join(s.split())
        # Real TL;DRs often start in lower case; "I" and "AITA" stay as they are.
        if rng.random() < 0.6 and not s.startswith(("I ", "AITA")):
            s = s[:1].lower() + s[1:]
        else:
            s = capitalise(s)
        if not bounds or MIN_SUMMARY_WORDS <= word_count(s) <= MAX_SUMMARY_WORDS:
            return s
    # Rare long combinations: the shortest wording of every part.
    shortest = lambda forms: min(forms, key=lambda f: word_count(f))  # noqa: E731
    number = num or m["num"]
    if number is not None and omit is None:
        p = fill_template(shortest(prob.short_num), num=number, **pr)
    else:
        p = fill_template(shortest(prob.short), **pr)
    s = f"{cp or m['cp']} {p}, {fill_template(shortest(QUESTIONS[m['qid']][1]), **pr)}"
    if omit is None and extra is None and MIN_SUMMARY_WORDS <= word_count(s) <= MAX_SUMMARY_WORDS:
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
    check_frac("val_frac", val_frac)
    check_frac("test_frac", test_frac)
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
