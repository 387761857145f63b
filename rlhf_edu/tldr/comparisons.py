"""Comparison pairs for the reward model, each with a stated, checkable reason.

``comparison_pairs`` writes (chosen, rejected) summaries of a post where chosen wins for one of
``REASONS``: "missing_fact", "hallucination", "wrong_fact", "verbose" or "generic". Chosen
summaries are re-worded renderings of all the facts, not always the reference verbatim, so a
reward model cannot win by memorising one string per post. The one exception is "wrong_fact":
chosen leaves one fact (a number or the person) out and rejected states it wrongly. That is the
mistake a small SFT model makes most (it writes *a* number, not the post's), and without such
pairs a reward model learns "a number is good" from the missing-fact pairs and rewards wrong
ones. A "hallucination" rejection swaps in another person or number, adds an invented detail, or
gives the counterpart a wrong age ("(41M)" for a 48-year-old), one of the two inventions a
better-trained SFT model makes most.
"""

from __future__ import annotations

import random

from .judge import fact_coverage, hallucination, post_body
from .phrases import COUNTERPARTS, GENERIC, GENERIC_CP, HALLU_CP, HALLU_NUM, PADDING, draw_number
from .posts import REASONS, SEQUENCE_BUDGET, TLDR_TAG, Comparison, Post, age_tag, render_summary
from .text import approx_tokens, body_terms, fill_template, numbers_in, pronouns, word_count

# ---------------------------------------------------------------------------
# Comparison pairs
# ---------------------------------------------------------------------------

def _other_cp(rng: random.Random, post: Post) -> str:
    present = body_terms(post_body(post))[0]
    return rng.choice([c for c in COUNTERPARTS if c not in present])


def _other_number(rng: random.Random, post: Post, kind: str) -> str:
    used = body_terms(post_body(post))[1]
    for _ in range(100):
        value, _ = draw_number(rng, kind)
        if not (numbers_in(value) & used):
            return value
    raise RuntimeError("no unused number")


def _rejected(rng: random.Random, post: Post, reason: str) -> str:
    m = post.meta
    pr = pronouns(m["gender"])
    if reason == "missing_fact":
        omit = rng.choice([f.slot for f in post.facts])
        return render_summary(rng, post, omit=omit, bounds=False)
    if reason == "hallucination":
        modes = ("swap_cp", "swap_num", "add") if m["num"] else ("swap_cp", "add")
        if m["cp_tag"]:
            modes += ("swap_age",)  # "(41M)" for a 48-year-old: a common invention of our SFT model
        mode = rng.choice(modes)
        if mode == "swap_cp":
            return render_summary(rng, post, cp=_other_cp(rng, post), bounds=False)
        if mode == "swap_age":
            used = body_terms(post_body(post))[1]
            tag = next(t for t in (age_tag(rng, m["cp"], m["gender"]) for _ in range(100))
                       if not (numbers_in(t) & used))
            return render_summary(rng, post, cp=m["cp"] + tag, bounds=False)
        if mode == "swap_num":
            kind = m["problem"].kind
            return render_summary(rng, post, num=_other_number(rng, post, kind), bounds=False)
        if rng.random() < 0.5:
            extra = fill_template(rng.choice(HALLU_CP), cp2=_other_cp(rng, post), **pr)
        else:
            v = _other_number(rng, post, "money")[1:]
            k = _other_number(rng, post, "times").split()[0]
            extra = fill_template(rng.choice(HALLU_NUM), k=k, v=v, **pr)
        return render_summary(rng, post, extra=extra, bounds=False)
    if reason == "verbose":
        base = render_summary(rng, post)
        copied = rng.sample(m["non_key"], min(len(m["non_key"]), rng.randint(1, 2)))
        if rng.random() < 0.4:
            return f"{rng.choice(PADDING)} {base[:1].lower() + base[1:]} {' '.join(copied)}"
        return f"{' '.join(copied)} {base}" if rng.random() < 0.5 else f"{base} {' '.join(copied)}"
    if reason == "generic":
        if rng.random() < 0.3:
            return fill_template(rng.choice(GENERIC_CP), cp=m["cp"])
        return rng.choice(GENERIC)
    raise ValueError(f"reason must be one of {REASONS}, got {reason!r}")


def _wrong_fact(rng: random.Random, post: Post) -> tuple[str, str]:
    """(chosen, rejected) for "wrong_fact": one fact left out vs the same fact stated wrongly."""
    slot = "number" if post.meta["num"] and rng.random() < 0.75 else "counterpart"
    chosen = render_summary(rng, post, omit=slot, bounds=False)
    if slot == "number":
        rejected = render_summary(rng, post, num=_other_number(rng, post, post.meta["problem"].kind), bounds=False)
    else:
        rejected = render_summary(rng, post, cp=_other_cp(rng, post), bounds=False)
    return chosen, rejected


def _pair_ok(post: Post, chosen: str, rejected: str, reason: str) -> bool:
    """The stated reason holds by the judge (a construction check: a rare
    accidental keyword overlap makes us redraw, it never relabels a pair)."""
    if chosen == rejected or min(word_count(chosen), word_count(rejected)) < 5:  # trlx drops < 5-word summaries
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
        return cov_r == cov_c and not hal_r and word_count(rejected) >= word_count(chosen) + 5
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
                chosen, rejected = render_summary(rng, post), _rejected(rng, post, reason)
        except RuntimeError:  # no wording fits the bounds this time
            continue
        if _pair_ok(post, chosen, rejected, reason):
            return Comparison(post.comparison_prompt, f"{TLDR_TAG} {chosen}",
                              f"{TLDR_TAG} {rejected}", reason, post)
    return None
