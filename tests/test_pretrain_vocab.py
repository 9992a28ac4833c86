"""`zhcls vocab` makes a BERT-Chinese-style WordPiece vocabulary that AutoTokenizer loads."""

from __future__ import annotations


def test_chinese_is_split_into_characters_and_round_trips(tokenizer_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    assert tokenizer.tokenize("很好满意") == ["很", "好", "满", "意"]
    ids = tokenizer("很好满意")["input_ids"]
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True).replace(" ", "") == "很好满意"
    assert (tokenizer_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()[:5] == [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
    ]


def test_full_width_forms_fold_to_half_width(tokenizer_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    assert tokenizer.tokenize("ＨＥＬＬＯ２０２４") == tokenizer.tokenize("hello2024")


def test_vocab_command(run_cli, tmp_path, synthetic_csv):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("今天天气很好\n\nhello world\n", encoding="utf-8")
    code, _, _ = run_cli(
        "vocab",
        "--corpus",
        corpus,
        "--corpus",
        synthetic_csv,
        "--vocab-size",
        "200",
        "--min-frequency",
        "1",
        "--output",
        tmp_path / "tok",
    )
    assert code == 0 and (tmp_path / "tok" / "tokenizer.json").exists()
    code, _, err = run_cli("vocab", "--corpus", tmp_path / "missing.txt", "--output", tmp_path / "tok2")
    assert code == 2 and "missing.txt: no such file" in err
