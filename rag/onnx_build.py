"""Export a sentence-transformers folder (mean pooling) to ONNX and quantize it to int8, once, into the cache.

The export needs torch and about 3.5 GB at its peak, so `build_onnx_model` runs it in a child process:
the serving process never imports torch and keeps only the small int8 graph.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

MARKER = ".onnx_build_complete"
QUANTIZATIONS = ("int8", "fp32")
GRAPH = "model.onnx"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def built(target: Path) -> dict[str, str] | None:
    """The marker of a complete build at `target`, or None."""
    try:
        return json.loads((target / MARKER).read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def build_onnx_model(source: Path, target: Path, quantization: str) -> Path:
    """Return `target` holding model.onnx + tokenizer.json of `source`; build it in a child process if absent."""
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}, not {quantization!r}")
    if built(target) is None:
        log.info("exporting %s to ONNX (%s) at %s; this happens once", source, quantization, target)
        done = subprocess.run(
            [sys.executable, "-m", "rag.onnx_build", str(source), str(target), quantization],
            capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
        )
        if done.returncode != 0 or built(target) is None:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"ONNX export of {source} failed (exit {done.returncode}): {tail}")
    return target


def _pooling_mode(source: Path) -> str:
    config = source / "1_Pooling" / "config.json"
    if not config.is_file():
        return "mean"
    modes = [k.removeprefix("pooling_mode_").removesuffix("_tokens")
             for k, v in json.loads(config.read_text()).items() if k.startswith("pooling_mode_") and v]
    return modes[0] if len(modes) == 1 else "+".join(modes)


def _export(source: Path, target: Path, quantization: str) -> None:
    import torch
    from transformers import AutoModel

    if (mode := _pooling_mode(source)) != "mean":
        raise ValueError(f"{source} pools by {mode!r}; only mean pooling exports to ONNX (use encoder=torch)")
    model = AutoModel.from_pretrained(str(source), local_files_only=True).eval()

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        fp32 = tmp / ("fp32.onnx" if quantization == "int8" else GRAPH)
        dummy = torch.ones(2, 8, dtype=torch.long)
        axes = {"batch": 0, "tokens": 1}
        torch.onnx.export(
            MeanPooled(), (), str(fp32), kwargs={"input_ids": dummy, "attention_mask": dummy},
            input_names=["input_ids", "attention_mask"], output_names=["embedding"], opset_version=17,
            dynamic_axes={"input_ids": {v: k for k, v in axes.items()},
                          "attention_mask": {v: k for k, v in axes.items()}, "embedding": {0: "batch"}},
            dynamo=False,
        )
        if quantization == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(fp32), str(tmp / GRAPH), per_channel=True, weight_type=QuantType.QUInt8)
            fp32.unlink()
        shutil.copy(source / "tokenizer.json", tmp / "tokenizer.json")
        tmp.chmod(0o755)
        marker = {"source": str(source), "quantization": quantization, "sha256": sha256(tmp / GRAPH)}
        (tmp / MARKER).write_text(json.dumps(marker) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    _export(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
