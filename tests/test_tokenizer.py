"""Tokenizers: GPT-2's real ids offline, our BPE deterministic, exact round trips."""

import json
import random
import shutil
import socket
import subprocess
import sys

import pytest
import tiktoken
import tiktoken.load
from hypothesis import given, settings
from hypothesis import strategies as st

from rlhf_edu import tokenizer as T
from rlhf_edu.tokenizer import BPETokenizer, GPT2Tokenizer, Tokenizer, get_tokenizer

WORDS = (
    "i you we the a my this that is was so just really not love hate great awful "
    "movie coffee pizza game song day today weekend work friend cat dog new old "
    "best worst ever never always good bad lol omg and but to of for with at"
).split()
ENDINGS = ["", "!", "!!", ".", "...", "?", " :)", " :(", " 😂", " ❤️", " #fun", " @sam"]


def fake_tweets(n: int, seed: int = 0) -> list[str]:
    """English-like short texts with emoji, tags and the odd typo."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 18))]
        if rng.random() < 0.2:  # a typo: doubled letter
            i = rng.randrange(len(words))
            words[i] = words[i] + words[i][-1]
        text = " ".join(words) + rng.choice(ENDINGS)
        out.append(text[0].upper() + text[1:] if rng.random() < 0.5 else text)
    return out


HARD_STRINGS = [
    "",
    " ",
    "Hello world",
    "  two leading spaces, trailing  ",
    "tabs\tand\r\nnewlines\n\n",
    "emoji 😂👍🏽 and a family 👨‍👩‍👧",
    "ünïcödé, 日本語, עברית, العربية",
    "the literal <|endoftext|> and <|pad|> are just text",
    "sooooo goooood!!!1!",
    "\x00\x01 control bytes",
]


@pytest.fixture(scope="module")
def gpt2():
    return GPT2Tokenizer()


@pytest.fixture(scope="module")
def bpe():
    return BPETokenizer.train(fake_tweets(2000), vocab_size=512)


# ---------------------------------------------------------------- GPT-2


def test_gpt2_known_ids(gpt2):
    assert gpt2.encode("Hello world") == [15496, 995]
    assert gpt2.encode("Hello, world!") == [15496, 11, 995, 0]
    assert gpt2.encode(" the") == [262]
    assert gpt2.enc.decode_single_token_bytes(262) == b" the"
    assert gpt2.encode("<|endoftext|>", allow_special=True) == [50256]
    # Not allowed: the same characters are ordinary text, not EOS.
    assert 50256 not in gpt2.encode("<|endoftext|>")
    assert gpt2.decode(gpt2.encode("<|endoftext|>")) == "<|endoftext|>"


def test_gpt2_sizes_and_pad(gpt2):
    assert gpt2.eos_id == 50256
    assert gpt2.pad_id == 50257 != gpt2.eos_id
    assert gpt2.vocab_size == 50258  # GPT-2's 50,257 ids plus our pad
    assert gpt2.enc.n_vocab == 50257


def test_gpt2_pattern_splits_like_tiktoken():
    # Our GPT-2 regex must cut text exactly as tiktoken's current one does.
    openai_public = pytest.importorskip("tiktoken_ext.openai_public")
    ours = T._gpt2_encoding(str(T.GPT2_BPE_FILE))
    theirs = tiktoken.Encoding(
        name="r50k_check",
        pat_str=openai_public.r50k_pat_str,
        mergeable_ranks=ours._mergeable_ranks,
        special_tokens={T.EOS_TOKEN: 50256},
    )
    texts = HARD_STRINGS + fake_tweets(300) + ["a  b   c \n\n x  ", "it's they'll I'M 123 4.5", "   "]
    assert ours.encode_ordinary_batch(texts) == theirs.encode_ordinary_batch(texts)


def test_gpt2_never_touches_the_network(tmp_path, monkeypatch):
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    monkeypatch.delenv(T.GPT2_BPE_ENV, raising=False)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)

    def no_network(*args, **kwargs):
        raise AssertionError("the GPT-2 tokenizer tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    T._gpt2_encoding.cache_clear()  # really load the file, not a cached Encoding
    tok = GPT2Tokenizer()
    assert tok.encode("Hello world") == [15496, 995]
    assert list(cache.iterdir()) == []  # nothing written to tiktoken's cache either


def test_gpt2_download_falls_back_offline(monkeypatch):
    def offline(name):
        raise ConnectionError("no route to host")  # requests' errors are OSErrors too

    monkeypatch.setattr(tiktoken, "get_encoding", offline)
    with pytest.warns(UserWarning, match="bundled"):
        tok = GPT2Tokenizer(download=True)
    assert tok.encode("Hello world") == [15496, 995]


def test_gpt2_local_file_by_argument_and_env(tmp_path, monkeypatch):
    copy = tmp_path / "my-gpt2.tiktoken"
    shutil.copy(T.GPT2_BPE_FILE, copy)
    assert GPT2Tokenizer(path=copy).encode("Hello world") == [15496, 995]
    monkeypatch.setenv(T.GPT2_BPE_ENV, str(copy))
    assert GPT2Tokenizer().encode("Hello world") == [15496, 995]


def test_gpt2_wrong_file_is_a_clear_error(tmp_path, monkeypatch):
    bad = tmp_path / "bad.tiktoken"
    data = bytearray(T.GPT2_BPE_FILE.read_bytes())
    data[100] ^= 1  # one flipped bit
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=T.GPT2_BPE_SHA256):
        GPT2Tokenizer(path=bad)
    monkeypatch.setenv(T.GPT2_BPE_ENV, str(bad))
    with pytest.raises(ValueError, match="expected " + T.GPT2_BPE_SHA256):
        GPT2Tokenizer()


# ---------------------------------------------------------------- our BPE


def test_bpe_special_tokens(bpe):
    assert bpe.pad_id != bpe.eos_id
    assert bpe.tok.id_to_token(bpe.eos_id) == "<|endoftext|>"
    assert bpe.tok.id_to_token(bpe.pad_id) == "<|pad|>"
    assert 256 + 2 < bpe.vocab_size <= 512
    ids = [i for row in bpe.encode_batch(fake_tweets(200, seed=1)) for i in row]
    assert 0 <= min(ids) and max(ids) < bpe.vocab_size
    assert bpe.eos_id not in ids and bpe.pad_id not in ids
    assert bpe.encode("<|endoftext|>", allow_special=True) == [bpe.eos_id]
    assert bpe.eos_id not in bpe.encode("<|endoftext|>")  # and the flag is restored


def test_bpe_compresses(bpe):
    text = "Today was the best day ever lol"
    assert len(bpe.encode(text)) < len(text.encode()) / 2


def test_bpe_is_deterministic():
    texts = fake_tweets(1000)
    a = BPETokenizer.train(texts, vocab_size=400)
    b = BPETokenizer.train(texts, vocab_size=400)
    assert a.tok.to_str() == b.tok.to_str()
    # Another process gets other hash seeds (Python's and Rust's): still the same.
    code = (
        "import sys, json; from rlhf_edu.tokenizer import BPETokenizer; "
        "sys.stdout.write(BPETokenizer.train(json.load(sys.stdin), vocab_size=400).tok.to_str())"
    )
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(texts),
                         capture_output=True, text=True, check=True).stdout
    assert out == a.tok.to_str()


def test_bpe_save_load_round_trip(bpe, tmp_path):
    path = tmp_path / "sub" / "tok.json"
    bpe.save(path)
    json.loads(path.read_text())  # one plain JSON file
    back = BPETokenizer.load(path)
    assert (back.vocab_size, back.eos_id, back.pad_id) == (bpe.vocab_size, bpe.eos_id, bpe.pad_id)
    texts = fake_tweets(100, seed=2) + HARD_STRINGS
    assert back.encode_batch(texts) == bpe.encode_batch(texts)
    assert back.encode("<|pad|>") == bpe.encode("<|pad|>")  # specials stay plain text


# ---------------------------------------------------------------- both


@pytest.mark.parametrize("which", ["gpt2", "bpe"])
def test_round_trip_hard_strings(which, gpt2, bpe):
    tok = {"gpt2": gpt2, "bpe": bpe}[which]
    for s in HARD_STRINGS:
        assert tok.decode(tok.encode(s)) == s
    assert tok.encode_batch(HARD_STRINGS) == [tok.encode(s) for s in HARD_STRINGS]


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_round_trip_any_text(gpt2, bpe, s):
    for tok in (gpt2, bpe):
        assert tok.decode(tok.encode(s)) == s


@pytest.mark.parametrize("which", ["gpt2", "bpe"])
def test_decode_drops_pad_and_stops_at_eos(which, gpt2, bpe):
    tok = {"gpt2": gpt2, "bpe": bpe}[which]
    hi, there = tok.encode("hi"), tok.encode(" there")
    ids = [tok.pad_id, tok.pad_id] + hi + [tok.eos_id] + there + [tok.pad_id]
    assert tok.decode(ids) == "hi"
    assert tok.decode(ids, stop_at_eos=False) == "hi<|endoftext|> there"
    assert tok.decode(hi + there) == "hi there"


def test_get_tokenizer(tmp_path):
    assert isinstance(get_tokenizer("gpt2"), GPT2Tokenizer)
    path = tmp_path / "bpe.json"
    trained = get_tokenizer("bpe", texts=fake_tweets(500), vocab_size=300, path=path)
    assert isinstance(trained, Tokenizer) and path.exists()
    loaded = get_tokenizer("bpe", path=path)  # no texts needed once saved
    assert loaded.tok.to_str() == trained.tok.to_str()
    with pytest.raises(ValueError, match="texts"):
        get_tokenizer("bpe")
    with pytest.raises(ValueError, match="gpt2, bpe"):
        get_tokenizer("sentencepiece")
