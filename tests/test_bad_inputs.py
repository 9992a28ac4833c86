"""Every case of the bad-input corpus (tests/bad_inputs.py) is refused cleanly: exit code 2, one `error:` line that
names the problem, no traceback, and nothing changed on disk, neither in the case's folder nor in what it reads."""

from __future__ import annotations

import pytest
from bad_inputs import ARTIFACTS, CASES, snapshot, verbs, verdict


@pytest.fixture(scope="module")
def artifacts(synthetic_csv, tiny_encoder_dir, tokenizer_dir, trained_classifier, exported_classifier) -> dict:
    """The session's tiny artifacts, which the cases read and must leave alone."""
    paths = (synthetic_csv, tiny_encoder_dir, tokenizer_dir, trained_classifier, exported_classifier)
    return dict(zip(ARTIFACTS, paths, strict=True))


@pytest.fixture
def no_listening(monkeypatch):
    """`zhcls serve` never gets to listen: a case that slipped through fails instead of serving forever."""
    from zhcls.runtime import server

    def refuse(*args, **kwargs):
        raise AssertionError("zhcls serve was about to listen")

    monkeypatch.setattr(server, "serve", refuse)


def test_the_corpus_is_large_and_covers_every_command_that_reads_input():
    assert len(CASES) >= 100
    assert len({(case.verb, case.name) for case in CASES}) == len(CASES)
    for verb in ("split", "train", "eval", "baseline", "vocab", "pretrain", "distill", "export", "predict", "serve"):
        assert verb in verbs()
    assert "bench" in verbs() and "demo" in verbs() and "prune-vocab" in verbs()


@pytest.mark.parametrize("case", CASES, ids=[f"{case.verb}: {case.name}" for case in CASES])
def test_a_bad_input_is_refused_in_one_line_and_changes_nothing(case, artifacts, tmp_path, run_cli, no_listening):
    case.setup(tmp_path, artifacts)
    before = snapshot(tmp_path, *artifacts.values())
    code, _, err = run_cli(*case.args(tmp_path, artifacts))
    problem = verdict(case, code, err, before, snapshot(tmp_path, *artifacts.values()))
    assert problem is None, f"{problem}\n{err}"
