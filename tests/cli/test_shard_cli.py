"""`simcache shard` and `simcache keyslot`: output shapes, numbers, and one-line errors with exit status 2."""

from __future__ import annotations

import json

import pytest

from simcache.cli import main


def test_shard_json_ketama_add(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["shard", "--scheme", "ketama", "--nodes", "4", "--add", "1", "--keys", "5000", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["shares"]) == {f"node-{i}" for i in range(5)}
    assert out["moved_to_other"] == 0
    assert out["moved_fraction"] == pytest.approx(out["shares"]["node-4"])
    assert out["max_mean_load"] >= 1.0 and out["nodes_after"] == 5


def test_shard_json_modulo_remove(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["shard", "--scheme", "modulo", "--nodes", "5", "--remove", "1", "--keys", "20000", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["shares"]) == {f"node-{i}" for i in range(4)}
    # removing one of n+1 = 5 moves n/(n+1) = 4/5 of the keys, as adding does (3 sd ~ 0.009)
    assert abs(out["moved_fraction"] - 0.8) < 0.015


def test_shard_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["shard", "--scheme", "rendezvous", "--nodes", "3", "--add", "1", "--keys", "300"]) == 0
    text = capsys.readouterr().out
    assert "moved_fraction" in text and "max_mean_load" in text and "node-3" in text


@pytest.mark.parametrize("argv, needle", [
    (["--scheme", "md5", "--nodes", "3", "--keys", "10"], "--scheme must be one of"),
    (["--scheme", "ketama", "--nodes", "0", "--keys", "10"], "--nodes must be >= 1"),
    (["--scheme", "ketama", "--nodes", "3", "--keys", "0"], "--keys must be >= 1"),
    (["--scheme", "ketama", "--nodes", "3", "--remove", "3", "--keys", "5"], "at least one"),
    (["--scheme", "ketama", "--nodes", "3", "--add", "1", "--remove", "1", "--keys", "5"], "not allowed"),
    (["--scheme", "ketama", "--nodes", "x", "--keys", "5"], "invalid int"),
])
def test_shard_bad_arguments_one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str],
                                             needle: str) -> None:
    code: int | str | None
    try:
        code = main(["shard", *argv])  # a UsageError: main returns 2
    except SystemExit as e:  # an argparse error: exit 2
        code = e.code
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err and err.count("\n") == 1


def test_keyslot_prints_cluster_keyslot(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keyslot", "somekey"]) == 0
    assert capsys.readouterr().out.strip() == "11058"
    assert main(["keyslot", "foo{hash_tag}", "bar{hash_tag}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"foo{hash_tag}": 2515, "bar{hash_tag}": 2515}


def test_keyslot_needs_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["keyslot"])
    assert e.value.code == 2 and capsys.readouterr().err.count("\n") == 1
