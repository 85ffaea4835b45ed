"""The reading and scoring logic of XTREME's official evaluator, for tests that cannot fetch it.

Ported from google-research/xtreme `evaluate.py` at commit da430dd (the version that scores both
XTREME and XTREME-R: `read_tag`, `read_label`, `read_squad`, `read_xcopa`, `accuracy`, `bucc_f1`,
`get_suffix`, `evaluate_one_task`, and the per-language file loop of `evaluate`). The readers,
`accuracy` and `bucc_f1` are reproduced line for line; the seqeval `f1` and the SQuAD / MLQA
scorers (`third_party/evaluate_squad.py`, `evaluate_mlqa.py`) are the project's
`xstilts.metrics` functions (ports of those scripts, tested case by case in tests/test_metrics.py).
"""
from __future__ import annotations

import json
import os

from xstilts import metrics


def read_tag(file):
    labels, example = [], []
    with open(file, "r") as f:
        for line in f:
            line = line.strip()
            if line:
                example.append(line)
            else:
                labels.append(example)
                example = []
    if example:
        labels.append(example)
    return labels


def read_label(file):
    with open(file, "r") as f:
        return [l.strip() for l in f]


def read_squad(file):
    with open(file) as dataset_file:
        dataset_json = json.load(dataset_file)
        if "data" in dataset_json:
            return dataset_json["data"]
        return dataset_json


def read_xcopa(file):
    labels = []
    with open(file) as f:
        for row in f:
            labels.append(json.loads(row)["label"])
    return labels


def accuracy(labels, predictions, language=None):
    correct = sum([int(p == l) for p, l in zip(predictions, labels)])
    return {"accuracy": float(correct) / len(predictions) * 100}


def bucc_f1(labels, predictions, language=None):
    labels = set([tuple(l.split("\t")) for l in labels])
    predictions = set([tuple(l.split("\t")) for l in predictions])
    ncorrect = len(labels.intersection(predictions))
    if ncorrect > 0:
        prec, rec = ncorrect / len(predictions), ncorrect / len(labels)
        f1_val = 2 * prec * rec / (prec + rec)
    else:
        prec = rec = f1_val = 0
    return {"f1": f1_val * 100, "precision": prec * 100, "recall": rec * 100}


def f1(labels, predictions, language=None):
    return metrics.seqeval_f1(predictions, labels)


def _references(dataset):
    # what evaluate_squad.py / evaluate_mlqa.py iterate: article -> paragraphs -> qas -> answers
    return {qa["id"]: [a["text"] for a in qa["answers"]]
            for article in dataset for para in article["paragraphs"] for qa in para["qas"]}


def squad_em_f1(labels, predictions, language=None):
    return metrics.squad(predictions, _references(labels))


def mlqa_em_f1(labels, predictions, language):
    return metrics.mlqa(predictions, _references(labels), language)


READER_FUNCTION = {"pawsx": read_label, "xnli": read_label, "panx": read_tag, "udpos": read_tag,
                   "bucc2018": read_label, "tatoeba": read_label, "xquad": read_squad, "mewslix": read_squad,
                   "mlqa": read_squad, "tydiqa": read_squad, "xcopa": read_xcopa}
METRIC_FUNCTION = {"pawsx": accuracy, "xnli": accuracy, "panx": f1, "udpos": f1, "bucc2018": bucc_f1,
                   "tatoeba": accuracy, "xquad": squad_em_f1, "mlqa": mlqa_em_f1, "tydiqa": squad_em_f1,
                   "xcopa": accuracy}
GROUP2TASK = {"xtreme": {"qa": ["xquad", "mlqa", "tydiqa"]},
              "xtreme-r": {"qa": ["xquad", "mlqa", "tydiqa"], "multi_choice": ["xcopa"]}}


def get_suffix(task, group2task):
    if task in group2task["qa"] or task in ("mewslix",):
        return "json"
    elif "multi_choice" in group2task and task in group2task["multi_choice"]:
        return "jsonl"
    return "tsv"


def evaluate_one_task(prediction_file, label_file, task, language=None):
    predictions = READER_FUNCTION[task](prediction_file)
    labels = READER_FUNCTION[task](label_file)
    if task not in ["bucc2018", "mewslix", "mlqa", "tydiqa", "xquad"]:
        assert len(predictions) == len(labels), (
            "Number of examples in {} and {} not matched in {} task".format(prediction_file, label_file, task))
    return METRIC_FUNCTION[task](labels, predictions, language)


def evaluate_task_folder(prediction_folder, label_folder, task, langs, version):
    """`evaluate`'s loop over one task's languages: FileNotFoundError for a missing file, as there."""
    scores = {}
    for lg in langs:
        suffix = get_suffix(task, GROUP2TASK[version])
        prediction_file = os.path.join(prediction_folder, task, f"test-{lg}.{suffix}")
        label_file = os.path.join(label_folder, task, f"test-{lg}.{suffix}")
        for file_path in [prediction_file, label_file]:
            if not os.path.exists(file_path):
                raise FileNotFoundError(f"{file_path} is not available.")
        scores[lg] = evaluate_one_task(prediction_file, label_file, task, language=lg)
    return scores
