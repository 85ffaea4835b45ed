"""The training loop: deterministic for a seed, and a killed run resumes to the same weights."""
import random

import pytest
import torch
from transformers import AutoModel, XLMRobertaConfig

from xstilts import encode, models, train


def _tiny_setup(seed=0):
    torch.manual_seed(seed)
    config = XLMRobertaConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=32, max_position_embeddings=40, pad_token_id=1)
    encoder = AutoModel.from_config(config)
    rng = random.Random(0)
    features = [{"input_ids": [0] + [rng.randrange(5, 50) for _ in range(rng.randrange(3, 12))] + [2],
                 "labels": rng.randrange(2)} for _ in range(64)]
    for f in features:  # a learnable rule: label = whether token 7 occurs
        f["labels"] = int(7 in f["input_ids"])
    head = models.attach_head(encoder, "classification", 2)
    return {"cls": head}, {"cls": train.TaskStream("cls", features, 8, 1, seed)}


def _weights(models_):
    return torch.cat([p.detach().flatten() for p in models_["cls"].parameters()])


class Killed(Exception):
    pass


def test_fit_is_deterministic_for_a_seed():
    a, sa = _tiny_setup()
    b, sb = _tiny_setup()
    train.fit(a, sa, train.FitSettings(learning_rate=1e-3, seed=0), total_steps=12, log=lambda *_: None)
    train.fit(b, sb, train.FitSettings(learning_rate=1e-3, seed=0), total_steps=12, log=lambda *_: None)
    assert torch.equal(_weights(a), _weights(b))


def test_killed_run_resumes_to_identical_weights(tmp_path):
    full, streams = _tiny_setup()
    train.fit(full, streams, train.FitSettings(learning_rate=1e-3, seed=0), total_steps=20, log=lambda *_: None)

    killed, streams = _tiny_setup()
    original_next = streams["cls"].next
    calls = {"n": 0}

    def dying_next():
        calls["n"] += 1
        if calls["n"] > 13:  # dies during step 14, after the step-10 checkpoint
            raise Killed
        return original_next()

    streams["cls"].next = dying_next
    ckpt = tmp_path / "checkpoint.pt"
    with pytest.raises(Killed):
        train.fit(killed, streams, train.FitSettings(learning_rate=1e-3, seed=0, checkpoint_every=10), total_steps=20, checkpoint=ckpt, log=lambda *_: None)
    assert ckpt.exists()
    resumed, streams = _tiny_setup(seed=0)
    messages = []
    train.fit(resumed, streams, train.FitSettings(learning_rate=1e-3, seed=0, checkpoint_every=10), total_steps=20, checkpoint=ckpt, log=messages.append)
    assert "resumed from step 10" in messages
    assert torch.allclose(_weights(full), _weights(resumed))


def test_length_grouped_batches_cover_every_example_once():
    feats = [{"input_ids": [0] * n} for n in range(1, 40)]
    batches = encode.length_grouped_batches(feats, 4, random.Random(0), mega=3)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(feats)))

    def padding(bs):
        return sum(len(b) * max(len(feats[i]["input_ids"]) for i in b) for b in bs)
    shuffled = list(range(len(feats)))
    random.Random(0).shuffle(shuffled)
    plain = [shuffled[k:k + 4] for k in range(0, len(shuffled), 4)]
    assert padding(batches) < padding(plain)  # grouping by length pads less than random batches


def test_collate_pads_dynamically_and_masks_padding():
    batch = encode.collate([{"input_ids": [0, 5, 2], "labels": [1, 2, 3]}, {"input_ids": [0, 2], "labels": [4, 5]}], 1)
    assert batch["input_ids"].tolist() == [[0, 5, 2], [0, 2, 1]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[1, 2, 3], [4, 5, encode.IGNORE]]
