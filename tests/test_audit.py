"""The data audit (`xstilts audit`): text fingerprints, aligned rows, declared overlaps, and every
offline grid free of undeclared overlap on the mirror."""
from __future__ import annotations

from pathlib import Path

import pytest

from xstilts import audit, cli, data, params, workflow
from xstilts.phases import Read

try:
    HAVE_MIRROR = (data.mirror_dir() / "xnli").is_dir()
except data.DataMissingError:
    HAVE_MIRROR = False
no_mirror = pytest.mark.skipif(not HAVE_MIRROR, reason="local data mirror not found: set XSTILTS_DATA")
GRIDS = sorted(str(p) for p in (params.PARAMS_DIR / "experiments").glob("*.yaml"))


def test_normalisation_matches_tokenised_and_raw_copies_of_a_sentence():
    raw = {"tokens": ["I", "did", "n't", "go", "to", "the", "store", "."], "tags": ["X"] * 8}
    pair = {"text_a": "I didn't go to the store.", "text_b": ""}
    assert audit.text_units("tagging", raw) == audit.text_units("classification", pair)
    assert audit.text_units("classification", {"text_a": "Yes.", "text_b": "No."}) == []  # too short to count


def test_aligned_key_puts_the_language_back_as_a_placeholder():
    assert data.aligned_key("xnli/dev-de.tsv", "de", 7) == ("xnli/dev-{lang}.tsv", 7)
    assert data.aligned_key("xquad/xquad.en.json", "en", 3) == ("xquad/xquad.{lang}.json", 3)
    assert data.aligned_key("udpos/test-en.tsv", "de", 0) == ("udpos/test-en.tsv", 0)  # not this file's language


def test_passage_split_keeps_every_question_of_a_passage_on_one_side():
    rows = [{"context": c, "i": i} for i, c in enumerate("AABCACDB")]
    spec = {"rows": [0, 2], "rows_by": "context"}
    first = data._slice(rows, spec, [r["context"] for r in rows])
    rest = data._slice(rows, {"rows": [2, 4], "rows_by": "context"}, [r["context"] for r in rows])
    assert {r["context"] for r in first} == {"A", "B"} and {r["context"] for r in rest} == {"C", "D"}
    assert len(first) + len(rest) == len(rows)
    assert data._slice(rows, {"rows": [0, 2]}) == rows[:2]  # plain row slices unchanged


def ref(phase, role, owner, task, split="train", lang="en"):
    return Read(phase, role, owner, task, split, lang, None)


def test_declared_overlaps_are_the_registrys_own_and_only_across_tasks():
    mnli = ref("intermediate", "training", "mnli", "mnli")
    xnli_train = ref("target", "training", "xnli", "mnli")
    assert "base paper" in audit.declared(mnli, xnli_train)
    assert audit.declared(xnli_train, mnli)  # either direction
    squad = ref("intermediate", "training", "squad_v1", "squad_v1")
    assert audit.declared(squad, ref("target", "training", "mlqa", "squad_v1"))
    # nothing declares HellaSwag vs XNLI, and a task's own train/validation must always be disjoint
    assert audit.declared(ref("intermediate", "training", "hellaswag", "hellaswag"), xnli_train) is None
    assert audit.declared(xnli_train, ref("target", "selection", "xnli", "mnli", "validation")) is None


def test_audit_flags_a_synthetic_overlap(monkeypatch):
    """Two splits that share a text are reported, undeclared, and make the exit status non-zero."""
    shared = "the quick brown fox jumps over the lazy dog"

    def fake(ref, source, data_dir):
        texts = {audit.normalise(shared)} if (ref.task, ref.split) in {("hellaswag", "train"), ("mnli", "train")} else set()
        return frozenset(texts), frozenset(), 1

    monkeypatch.setattr(audit, "fingerprint", fake)
    cfg = params.resolve({"intermediate_tasks": ["hellaswag"], "target_task": "xnli"}, scale="smoke")
    rows, n_pairs = audit.audit_runs([cfg])
    assert n_pairs > 0
    assert [(r["training split"], r["other split"], r["declared"]) for r in rows] == [
        ("intermediate:hellaswag/train/en", "target:mnli/train/en (as xnli)", "NO")]


def test_smoke_overlaps_never_block_but_real_data_does():
    assert not audit.strict("smoke") and audit.strict("offline") and audit.strict("full")


@pytest.mark.slow
@pytest.mark.mirror
@no_mirror
@pytest.mark.parametrize("grid", [g for g in GRIDS if Path(g).stem != "a6_claims"], ids=lambda g: Path(g).stem)
def test_every_offline_grid_passes_the_audit(grid):
    rows, n_pairs, undeclared = audit.audit_grids([grid], "offline")
    assert n_pairs > 0
    assert undeclared == 0, [r for r in rows if r["declared"] == "NO"]


@pytest.mark.slow
@pytest.mark.mirror
@no_mirror
def test_cli_audit_prints_the_table_and_exits_zero_on_a_clean_grid(capsys):
    assert cli.main(["audit", "a4_model_scale_xcopa", "--scale", "offline"]) == 0
    out = capsys.readouterr().out
    assert "data audit (offline)" in out and "0 of them undeclared" in out


def test_sweep_grid_expands_at_every_scale():
    grid = workflow.load_grid("sweep_offline_recipes")
    assert workflow.grid_runs(grid, "smoke") == [] and workflow.grid_runs(grid, "full") == []
