"""The independent fact judge of the TL;DR task, in the spirit of VADER for the tweets.

Because we built each post, we know its KEY FACTS (``Post.facts``). The judge is never used to
train anything:

- ``fact_coverage(post, summary)``: the share of the post's key facts whose keywords appear in
  the summary;
- ``hallucination(post, summary)``: the summary names a counterpart or a number that is not in
  the post (only terms from this generator's vocabularies are checked: a model trained on this
  data writes in that vocabulary);
- ``judge_score`` / ``judge_summaries`` combine them.

Real CarperAI rows carry no key facts: on real data you evaluate with the reward model or by
reading, not with this judge.
"""

from __future__ import annotations

from .posts import Post, summary_text
from .text import body_terms, counterparts_in, has_keyword, norm_keyword, normalise, numbers_in, word_count

# ---------------------------------------------------------------------------
# The independent judge
# ---------------------------------------------------------------------------

def post_body(post: Post) -> str:
    return post.title + " " + post.post


def fact_coverage(post: Post, summary: str) -> float:
    """Share of ``post.facts`` whose keywords appear in ``summary`` (0..1).

    Case and punctuation are ignored; a "TL;DR:" tag is stripped; an empty or
    whitespace summary covers nothing.
    """
    if not post.facts:
        raise ValueError("post has no key facts (real data cannot be judged)")
    normed = normalise(summary_text(summary))
    hit = sum(any(has_keyword(normed, norm_keyword(k)) for k in f.keywords) for f in post.facts)
    return hit / len(post.facts)


def hallucinated_terms(post: Post, summary: str) -> list[str]:
    """Counterparts (canonical names) and numbers in ``summary`` absent from the post.

    Checked against the title and the post body. Only this generator's
    vocabularies are known: counterparts (with aliases, see COUNTERPARTS) and
    numbers written in digits ("three" is not checked; the generator never
    spells numbers out, so a model trained on it rarely does).
    """
    text = summary_text(summary)
    body_cps, body_nums = body_terms(post_body(post))
    extra_cps = counterparts_in(normalise(text)) - body_cps
    extra_nums = numbers_in(text) - body_nums
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
            - 0.01 * word_count(summary_text(summary)))


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
    words = [word_count(summary_text(s)) for s in summaries]
    n = len(posts)
    return {
        "n": n,
        "coverage": sum(cov) / n,
        "full_coverage_rate": sum(c == 1.0 for c in cov) / n,
        "hallucination_rate": sum(hal) / n,
        "mean_words": sum(words) / n,
        "score": sum(c - h - 0.01 * w for c, h, w in zip(cov, hal, words)) / n,
    }
