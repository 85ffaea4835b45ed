"""`xstilts tasks`: fits the terminal, prints no raw dicts, shows the substitute sentences on request."""
import os
import subprocess
import sys

import pytest

from xstilts import task_table, tasks


def _cli(*args, columns=80):
    env = dict(os.environ, COLUMNS=str(columns))
    return subprocess.run([sys.executable, "-m", "xstilts.cli", "tasks", *args], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("columns", [80, 120])
def test_the_table_fits_the_terminal_and_names_every_task(columns):
    out = _cli(columns=columns)
    assert out.returncode == 0, out.stderr
    assert max(len(line) for line in out.stdout.splitlines()) <= columns
    first_column = {line.split()[0] for line in out.stdout.splitlines() if line and not line.startswith(" ")}
    assert set(tasks.task_names()) <= first_column
    assert "{" not in out.stdout and "}" not in out.stdout


def test_details_show_every_substitute_sentence_and_no_raw_dicts():
    out = _cli("--details")
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())  # the sentences are wrapped
    sentences = [spec["substitute"] for t in tasks.all_tasks().values()
                 for spec in (t.get("mirror") or {}).values() if isinstance(spec, dict) and spec.get("substitute")]
    assert len(sentences) > 10
    for sentence in sentences:
        assert " ".join(sentence.split()) in text
    assert "{'" not in out.stdout
    assert "18 per-language files (el: ud/el_gdt-ud-train.conllu, ...)" in text  # mlm_text's {lang: path} files


def test_wide_and_markdown_print_every_column():
    wide = _cli("--wide")
    assert wide.returncode == 0 and "synthetic:nli" in wide.stdout and "nyu-mll/multi_nli" in wide.stdout
    markdown = _cli("--format", "markdown")
    assert markdown.returncode == 0 and markdown.stdout.startswith("| task")
    assert markdown.stdout.count("\n|") >= len(tasks.task_names())


def test_a_column_that_cannot_fit_is_left_out_and_the_note_says_so():
    narrow = task_table.text_table(task_table.rows("target"), 60)
    assert "licence" not in narrow.splitlines()[0]
    assert max(len(line) for line in narrow.splitlines()) <= 60
    wide_enough = task_table.text_table(task_table.rows("target"), 200)
    assert wide_enough.splitlines()[0].split()[-1] == "licence"
