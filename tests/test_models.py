"""Model building: the smoke tokenizer is reproducible, and every head shares one encoder."""
import subprocess
import sys

import pytest
import torch
from transformers import AutoModel, XLMRobertaConfig

from xstilts import models, smoke

HASH_TOKENIZER = ("import hashlib; from xstilts import models, smoke; "
                  "t = models.build_smoke_tokenizer(smoke.tokenizer_corpus()); "
                  "print(hashlib.sha1(t.backend_tokenizer.to_str().encode()).hexdigest())")


def test_smoke_tokenizer_is_identical_across_processes():
    digests = {subprocess.run([sys.executable, "-c", HASH_TOKENIZER], capture_output=True, text=True,
                              check=True).stdout for _ in range(2)}
    assert len(digests) == 1


def test_smoke_tokenizer_has_xlmr_special_ids_and_pairs():
    tok = models.build_smoke_tokenizer(smoke.tokenizer_corpus())
    assert [tok.convert_tokens_to_ids(t) for t in ("<s>", "<pad>", "</s>", "<unk>")] == [0, 1, 2, 3]
    ids = tok("the cake", "the river")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2 and ids.count(2) == 3  # <s> A </s></s> B </s>
    words = tok(["Anna", "bemote", "."], is_split_into_words=True)
    assert max(w for w in words.word_ids() if w is not None) == 2


@pytest.mark.parametrize("fmt, n_labels", [("classification", 3), ("regression", None), ("multiple_choice", None),
                                           ("tagging", 5), ("qa", None), ("parsing", 4)])
def test_every_head_shares_the_encoder_and_computes_a_loss(fmt, n_labels):
    torch.manual_seed(0)
    config = XLMRobertaConfig(vocab_size=60, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=32, max_position_embeddings=40, pad_token_id=1)
    encoder = AutoModel.from_config(config)
    model = models.attach_head(encoder, fmt, n_labels)
    shared = model.encoder if fmt == "parsing" else model.base_model
    assert shared is encoder
    ids = torch.randint(3, 60, (2, 6))
    mask = torch.ones_like(ids)
    batch = {
        "classification": dict(labels=torch.tensor([0, 2])),
        "regression": dict(labels=torch.tensor([0.5, 2.0])),
        "tagging": dict(labels=torch.randint(0, 5, (2, 6))),
        "qa": dict(start_positions=torch.tensor([1, 2]), end_positions=torch.tensor([2, 4])),
        "parsing": dict(word_index=torch.tensor([[1, 2, 3], [1, 3, 4]]), word_mask=torch.ones(2, 3, dtype=torch.long),
                        heads=torch.tensor([[-100, 0, 1, 1], [-100, 2, 0, 2]]),
                        rels=torch.tensor([[-100, 0, 1, 3], [-100, 2, 0, 1]])),
        "multiple_choice": dict(labels=torch.tensor([1])),
    }[fmt]
    if fmt == "multiple_choice":
        ids, mask = ids.view(1, 2, 6), mask.view(1, 2, 6)
    loss = model(input_ids=ids, attention_mask=mask, **batch).loss
    loss.backward()
    assert torch.isfinite(loss) and encoder.embeddings.word_embeddings.weight.grad is not None
