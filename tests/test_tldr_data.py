"""The synthetic TL;DR task: generator, splits, comparison pairs, judge, loaders."""

import collections
import json
import os
import re

import pytest

from rlhf_edu.tldr import carperai, comparisons, judge, text
from rlhf_edu.tldr import posts as tldr_posts

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
TLDR_DIR = os.path.join(FIXTURES, "tldr")
CMP_DIR = os.path.join(FIXTURES, "tldr_comparisons")
PROMPT_RE = re.compile(r"^SUBREDDIT: r/\w+\nTITLE: [^\n]+\nPOST: [^\n]+\nTL;DR:$")


@pytest.fixture(scope="module")
def posts():
    return tldr_posts.generate_posts(5000, seed=0)


@pytest.fixture(scope="module")
def pairs(posts):
    return comparisons.comparison_pairs(posts[:2000], n_pairs=2000, seed=1)


def _post(text="My boyfriend (26M) has been going through my phone for 3 months. "
               "It is starting to affect my sleep. Am I overreacting?"):
    """A hand-made post with known key facts, for judge edge cases."""
    facts = [tldr_posts.Fact("counterpart", "boyfriend", ("boyfriend", "bf")),
             tldr_posts.Fact("problem", "phone", ("phone",)),
             tldr_posts.Fact("number", "3 months", ("3 months",)),
             tldr_posts.Fact("question", "overreact", ("overreacting", "dramatic", "aita"))]
    return tldr_posts.Post("relationships", "Boyfriend keeps checking my phone", text, facts,
                  " boyfriend has gone through my phone for 3 months, am I overreacting?")


# --- generator -------------------------------------------------------------

def test_deterministic_by_seed():
    a, b = tldr_posts.generate_posts(300, seed=7), tldr_posts.generate_posts(300, seed=7)
    assert [(p.prompt, p.reference, p.facts) for p in a] == \
           [(p.prompt, p.reference, p.facts) for p in b]
    pa = comparisons.comparison_pairs(a, 200, seed=3)
    pb = comparisons.comparison_pairs(b, 200, seed=3)
    assert [(c.prompt, c.chosen, c.rejected, c.reason) for c in pa] == \
           [(c.prompt, c.chosen, c.rejected, c.reason) for c in pb]


def test_different_seeds_differ():
    a = {p.prompt for p in tldr_posts.generate_posts(300, seed=0)}
    b = {p.prompt for p in tldr_posts.generate_posts(300, seed=1)}
    assert len(a & b) < 5


def test_many_posts_few_duplicates(posts):
    assert len(posts) == 5000
    prompts = [p.prompt for p in posts]
    assert len(set(prompts)) >= 0.995 * len(prompts)
    # Varied content, not a handful of templates.
    assert len({p.meta["problem"].key for p in posts}) >= 30
    assert len({p.subreddit for p in posts}) >= 15
    assert len({f.value for p in posts for f in p.facts if f.slot == "counterpart"}) >= 15
    assert len({p.reference for p in posts}) >= 0.95 * len(posts)


def test_prompt_and_label_shape(posts):
    for p in posts[:500]:
        assert PROMPT_RE.match(p.prompt), p.prompt
        assert p.prompt.endswith("\nTL;DR:")
        assert p.comparison_prompt + "\nTL;DR:" == p.prompt
        assert p.reference.startswith(" ") and not p.reference.startswith("  ")
        assert "\n" not in p.reference and p.reference == " " + p.reference.strip()


def test_length_bounds(posts):
    for p in posts:
        assert tldr_posts.MIN_POST_WORDS <= len(p.post.split()) <= tldr_posts.MAX_POST_WORDS, p.post
        assert tldr_posts.MIN_SUMMARY_WORDS <= len(p.reference.split()) <= tldr_posts.MAX_SUMMARY_WORDS, p.reference
        # + 1: the head is counted without the body's space
        assert text.approx_tokens(p.prompt) <= tldr_posts.PROMPT_BUDGET + 1
        assert text.approx_tokens(p.prompt + p.reference) <= tldr_posts.SEQUENCE_BUDGET


def test_fits_a_96_token_context_with_a_corpus_bpe(posts):
    from rlhf_edu.tokenizer import BPETokenizer
    tok = BPETokenizer.train([p.prompt + p.reference for p in posts[:3000]], vocab_size=2000)
    lengths = [len(tok.encode(p.prompt + p.reference)) for p in posts[3000:]]
    assert max(lengths) < 96  # room for an end-of-text token


def test_facts_are_3_or_4_slots(posts):
    counts = collections.Counter(len(p.facts) for p in posts)
    assert set(counts) <= {3, 4} and counts[4] > counts[3] > 0
    for p in posts[:500]:
        slots = [f.slot for f in p.facts]
        assert slots[:2] == ["counterpart", "problem"] and slots[-1] == "question"
        assert len(set(slots)) == len(slots) and set(slots) <= set(tldr_posts.SLOTS)
        assert all(f.keywords for f in p.facts)


def test_references_fully_covered_and_faithful(posts):
    for p in posts:
        assert judge.fact_coverage(p, p.reference) == 1.0, (p.post, p.reference)
        assert not judge.hallucination(p, p.reference), (p.post, p.reference)
        # The post itself states every fact (the summary is not inventing them).
        assert judge.fact_coverage(p, p.post) == 1.0, p.post
    out = judge.judge_summaries(posts, [p.reference for p in posts])
    assert out["coverage"] == 1.0 and out["hallucination_rate"] == 0.0
    assert out["n"] == len(posts) and 6 <= out["mean_words"] <= 15


def test_fillers_are_not_key_facts(posts):
    for p in posts[:500]:
        for s in p.meta["non_key"]:
            assert s in p.post
            assert judge.fact_coverage(p, s) < 1.0


# --- splits ----------------------------------------------------------------

def test_split_no_prompt_shared(posts):
    dup = posts[:50] + posts  # force duplicates
    sp = tldr_posts.split_posts(dup, val_frac=0.1, test_frac=0.1, seed=0)
    sets = {k: {p.prompt for p in v} for k, v in sp.items()}
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"])
    assert not (sets["val"] & sets["test"])
    n = sum(len(v) for v in sp.values())
    assert n == len({p.prompt for p in posts})
    assert all(len(v) == len(sets[k]) for k, v in sp.items())  # deduped within splits too
    assert abs(len(sp["val"]) - 0.1 * n) <= 1


def test_load_summaries_and_sft_rows():
    sp = tldr_posts.load_summaries(n=400, seed=2, val_frac=0.1, test_frac=0.2)
    assert set(sp) == {"train", "val", "test"}
    assert len(sp["test"]) > len(sp["val"]) > 0
    rows = tldr_posts.sft_rows(sp["train"])
    assert rows[0] == (sp["train"][0].prompt, sp["train"][0].reference)


# --- comparison pairs --------------------------------------------------------

def test_pairs_balanced_and_shaped(pairs):
    counts = collections.Counter(c.reason for c in pairs)
    assert set(counts) == set(tldr_posts.REASONS)
    assert max(counts.values()) - min(counts.values()) <= 1
    for c in pairs:
        assert c.chosen.startswith("TL;DR: ") and c.rejected.startswith("TL;DR: ")
        assert c.prompt == c.post.comparison_prompt and "TL;DR" not in c.prompt
        # The trlx-style text equals the SFT-style text.
        assert c.prompt + "\n" + c.chosen == c.sft_prompt + c.chosen_summary
        assert c.sft_prompt == c.post.prompt
        assert c.chosen != c.rejected
        assert len(c.rejected_summary.split()) >= 5


def test_chosen_is_complete_faithful_and_varied(pairs):
    for c in pairs:
        if c.reason == "wrong_fact":
            continue  # chosen leaves one fact out there (test_wrong_fact_pairs)
        assert judge.fact_coverage(c.post, c.chosen) == 1.0
        assert not judge.hallucination(c.post, c.chosen)
        assert tldr_posts.MIN_SUMMARY_WORDS <= len(c.chosen_summary.split()) <= tldr_posts.MAX_SUMMARY_WORDS
    same_as_ref = sum(c.chosen_summary == c.post.reference for c in pairs)
    assert same_as_ref < 0.3 * len(pairs)
    p = pairs[0].post
    many = comparisons.comparison_pairs([p] * 40, 40, seed=0)
    assert len({c.chosen for c in many}) >= 10


def test_missing_fact_pairs(pairs):
    sub = [c for c in pairs if c.reason == "missing_fact"]
    for c in sub:
        assert judge.fact_coverage(c.post, c.rejected) < judge.fact_coverage(c.post, c.chosen)
        assert not judge.hallucination(c.post, c.rejected)
    # Each slot gets dropped somewhere.
    dropped = collections.Counter()
    for c in sub:
        normed = text.normalise(c.rejected)
        for f in c.post.facts:
            if not any(text.has_keyword(normed, text.norm_keyword(k)) for k in f.keywords):
                dropped[f.slot] += 1
    assert set(dropped) == set(tldr_posts.SLOTS)


def test_hallucination_pairs(pairs):
    sub = [c for c in pairs if c.reason == "hallucination"]
    kinds = collections.Counter()
    for c in sub:
        assert judge.hallucination(c.post, c.rejected)
        assert not judge.hallucination(c.post, c.chosen)
        terms = judge.hallucinated_terms(c.post, c.rejected)
        kinds["number" if terms[0].isdigit() else "counterpart"] += 1
    assert kinds["number"] > 0.2 * len(sub) and kinds["counterpart"] > 0.2 * len(sub)


def test_wrong_fact_pairs(pairs):
    # Chosen leaves a fact out, rejected states that same fact wrongly: same coverage, and only
    # rejected names a number or a person the post never mentions.
    sub = [c for c in pairs if c.reason == "wrong_fact"]
    kinds = collections.Counter()
    for c in sub:
        cov = judge.fact_coverage(c.post, c.chosen)
        assert cov < 1.0 and judge.fact_coverage(c.post, c.rejected) == cov
        assert not judge.hallucination(c.post, c.chosen) and judge.hallucination(c.post, c.rejected)
        kinds["number" if judge.hallucinated_terms(c.post, c.rejected)[0].isdigit() else "counterpart"] += 1
    assert kinds["number"] > 0.5 * len(sub) and kinds["counterpart"] > 0.1 * len(sub)


def test_pairs_for_chosen_reasons(posts):
    sub = comparisons.comparison_pairs(posts[:300], 90, seed=3, reasons=("missing_fact", "wrong_fact"))
    assert collections.Counter(c.reason for c in sub) == {"missing_fact": 45, "wrong_fact": 45}
    for bad in ((), ("missing_fact", "nonsense"), ("verbose", "verbose")):
        with pytest.raises(ValueError, match="reasons"):
            comparisons.comparison_pairs(posts[:10], 4, reasons=bad)


def test_verbose_pairs(pairs):
    sub = [c for c in pairs if c.reason == "verbose"]
    for c in sub:
        assert len(c.rejected.split()) >= len(c.chosen.split()) + 5
        assert judge.fact_coverage(c.post, c.rejected) == judge.fact_coverage(c.post, c.chosen)
        assert not judge.hallucination(c.post, c.rejected)
        assert text.approx_tokens(c.sft_prompt + c.rejected_summary) <= tldr_posts.SEQUENCE_BUDGET
    # Verbose rejections copy the post's non-key sentences.
    assert sum(any(s in c.rejected for s in c.post.meta["non_key"]) for c in sub) > 0.9 * len(sub)


def test_generic_pairs(pairs):
    sub = [c for c in pairs if c.reason == "generic"]
    for c in sub:
        assert judge.fact_coverage(c.post, c.rejected) <= 1 / 3
        assert not judge.hallucination(c.post, c.rejected)


def test_judge_score_prefers_chosen_for_every_reason(pairs):
    for c in pairs:
        assert judge.judge_score(c.post, c.chosen) > judge.judge_score(c.post, c.rejected), c


# --- the judge on hand-written cases -------------------------------------------

def test_judge_edge_cases():
    p = _post()
    assert judge.fact_coverage(p, "") == 0.0
    assert judge.fact_coverage(p, "   ") == 0.0
    assert judge.fact_coverage(p, "TL;DR:") == 0.0
    assert not judge.hallucination(p, "")
    full = "BF has gone through my PHONE for 3 months!!! am i OVERREACTING??"
    assert judge.fact_coverage(p, full) == 1.0 and not judge.hallucination(p, full)
    assert judge.fact_coverage(p, "TL;DR: " + full) == 1.0
    assert judge.fact_coverage(p, "boyfriend checks my phone") == 0.5
    # Whole words only: "phones" and "next" do not match "phone" / "ex".
    assert judge.fact_coverage(p, "my phones") == 0.0
    # Wrong counterpart: flagged, and the real one is not covered.
    assert judge.hallucinated_terms(p, "my husband checks my phone for 3 months") == ["husband"]
    assert judge.fact_coverage(p, "my husband checks my phone for 3 months") == 0.5
    # A different number is flagged; the post's own numbers (age tag) are not.
    assert judge.hallucinated_terms(p, "boyfriend checked my phone for 5 months") == ["5"]
    assert judge.hallucinated_terms(p, "$400 and my sister") == ["sister", "400"]
    assert not judge.hallucination(p, "boyfriend (26M) checked my phone for 3 months")
    # Aliases of the same person are not hallucinations.
    assert not judge.hallucination(p, "my bf checks my phone")
    # Words outside the generator's vocabularies are not judged.
    assert not judge.hallucination(p, "my boyfriend is a wizard")
    # The judge needs key facts.
    bare = tldr_posts.Post("x", "t", "p", [], " r")
    with pytest.raises(ValueError):
        judge.fact_coverage(bare, "anything")


def test_judge_summaries_batch():
    p = _post()
    out = judge.judge_summaries([p, p, p], ["", "my sister checks my phone",
                                        "boyfriend checks my phone for 3 months, am I overreacting?"])
    assert out["n"] == 3
    assert out["coverage"] == pytest.approx((0 + 0.25 + 1) / 3)
    assert out["full_coverage_rate"] == pytest.approx(1 / 3)
    assert out["hallucination_rate"] == pytest.approx(1 / 3)
    assert out["mean_words"] == pytest.approx((0 + 5 + 10) / 3)
    with pytest.raises(ValueError):
        judge.judge_summaries([p], ["a", "b"])
    with pytest.raises(ValueError):
        judge.judge_summaries([], [])


def test_summary_text():
    assert tldr_posts.summary_text("TL;DR: hello there") == " hello there"
    assert tldr_posts.summary_text("  tl;dr:hello") == " hello"
    assert tldr_posts.summary_text(" hello") == " hello"


# --- loaders on the local fixtures ---------------------------------------------

def test_tldr_loader_pure_python():
    out = carperai.load_hf_tldr(data_dir=TLDR_DIR, use_datasets=False)
    assert set(out) == {"train", "valid"}
    assert len(out["train"]) == 5 and len(out["valid"]) == 3
    for prompt, label in out["train"] + out["valid"]:
        assert PROMPT_RE.match(prompt), prompt
        assert label.startswith(" ") and label.strip()


def test_comparison_loader_pure_python():
    out = carperai.load_hf_comparisons(data_dir=CMP_DIR, use_datasets=False)
    assert set(out) == {"train", "valid1"}
    assert len(out["train"]) == 4 and len(out["valid1"]) == 3
    for c in out["train"] + out["valid1"]:
        assert isinstance(c, tldr_posts.Comparison) and c.reason is None and c.post is None
        assert c.prompt.startswith("SUBREDDIT: r/") and "TL;DR" not in c.prompt
        assert c.chosen.startswith("TL;DR: ") and c.rejected.startswith("TL;DR: ")
        assert PROMPT_RE.match(c.sft_prompt)
        assert c.chosen != c.rejected
    with pytest.raises(ValueError):  # real rows have no key facts to build pairs from
        comparisons.comparison_pairs([tldr_posts.Post("x", "t", "p", [], " r")], 1)


def test_loaders_datasets_path_matches():
    pytest.importorskip("datasets")
    assert (carperai.load_hf_tldr(data_dir=TLDR_DIR, use_datasets=True)
            == carperai.load_hf_tldr(data_dir=TLDR_DIR, use_datasets=False))
    assert (carperai.load_hf_comparisons(data_dir=CMP_DIR, use_datasets=True)
            == carperai.load_hf_comparisons(data_dir=CMP_DIR, use_datasets=False))


def test_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        carperai.load_hf_tldr(data_dir=str(tmp_path), use_datasets=False)
    with pytest.raises(FileNotFoundError):
        carperai.load_hf_tldr(data_dir=str(tmp_path / "missing"), use_datasets=False)
    (tmp_path / "train.jsonl").write_text(json.dumps({"prompt": "SUBREDDIT: r/x", "text": "y"}) + "\n")
    with pytest.raises(ValueError):
        carperai.load_hf_tldr(data_dir=str(tmp_path), use_datasets=False)
    with pytest.raises(ValueError):
        carperai.load_hf_comparisons(data_dir=str(tmp_path), use_datasets=False)


# --- bad inputs ------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, -3, 2.5, True, None])
def test_generate_bad_n(n):
    with pytest.raises(ValueError):
        tldr_posts.generate_posts(n)


def test_bad_inputs(posts):
    with pytest.raises(ValueError):
        tldr_posts.load_summaries(n=0)
    for val, test in [(-0.1, 0.1), (1.0, 0.0), (0.1, 1.2), (0.5, 0.5)]:
        with pytest.raises(ValueError):
            tldr_posts.split_posts(posts[:20], val_frac=val, test_frac=test)
    few = posts[:5]
    for n_pairs in (0, -1, 26, 1.5):
        with pytest.raises(ValueError):
            comparisons.comparison_pairs(few, n_pairs)
    with pytest.raises(ValueError):
        comparisons.comparison_pairs([], 1)
    assert len(comparisons.comparison_pairs(few, 20)) == 20  # the limit itself is fine
    assert len(comparisons.comparison_pairs(few)) == 5       # default: one pair per post


def test_hallucination_pairs_include_a_wrong_age(pairs):
    # The 1,000-step SFT model's commonest invention: the counterpart's age tag with a number the post
    # never states ("(41M)" for a 48-year-old). Some hallucination pairs must teach exactly that.
    wrong_ages = 0
    for c in (c for c in pairs if c.reason == "hallucination"):
        post_numbers = set(re.findall(r"\d+", c.post.post))
        for age in re.findall(r"\((\d+)[MF]\)", c.rejected_summary):
            if age not in post_numbers:
                wrong_ages += 1
                assert age in judge.hallucinated_terms(c.post, c.rejected)  # and the judge sees it
    assert wrong_ages > 0
