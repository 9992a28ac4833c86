"""What predict and serve do around the runtime: one JSON line per text, in order, and one-line errors."""

from __future__ import annotations

import json

import pytest

from zhcls.errors import UserError
from zhcls.serving import predict_texts, serve_export, web_root


def test_texts_become_one_json_line_each_in_order(exported_classifier, tmp_path):
    lines = []
    predict_texts(exported_classifier, ["房间很干净", "太吵了"], echo=lines.append, threads=1)
    records = [json.loads(line) for line in lines]
    assert [r["text"] for r in records] == ["房间很干净", "太吵了"]
    assert all({"label", "score"} <= set(r) for r in records)
    source, output = tmp_path / "in.txt", tmp_path / "out.jsonl"
    source.write_text("房间很干净\n太吵了\n", encoding="utf-8")
    predict_texts(exported_classifier, input_path=str(source), output=output, top_k=2, threads=1)
    written = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [len(r["top_k"]) for r in written] == [2, 2]


def test_texts_come_from_arguments_or_a_file_never_both(exported_classifier, tmp_path):
    with pytest.raises(UserError, match="not both"):
        predict_texts(exported_classifier, ["好"], input_path=str(tmp_path / "in.txt"))
    with pytest.raises(UserError, match="not both"):
        predict_texts(exported_classifier)


def test_the_page_needs_an_export_laid_out_for_it(exported_classifier, tmp_path):
    with pytest.raises(UserError, match="export it again with --web"):
        web_root(exported_classifier)
    with pytest.raises(UserError, match="--web-root goes with --web"):
        serve_export(exported_classifier, web_root_dir=tmp_path)
    with pytest.raises(UserError, match="must be positive"):
        serve_export(exported_classifier, max_batch=0)
