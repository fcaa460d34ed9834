"""``simcache scenarios``, ``simcache scenario NAME`` and ``simcache cheatsheet``: listing, a run, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simcache.cli import main
from simcache.scenarios import load_scenarios, scenario_names


def test_listing_names_every_scenario_with_its_question(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios"]) == 0
    out = capsys.readouterr().out
    for name, sc in load_scenarios().items():
        assert name in out and sc.question in out and sc.runtime in out and sc.topic in out


def test_listing_as_json_with_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenarios", "--json", "--topic", "rate-limiting-and-locks"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert set(rows) == {n for n in scenario_names() if load_scenarios()[n].topic == "rate-limiting-and-locks"}
    assert rows["rate-limiter"]["params"]["limit"] == 10 and rows["rate-limiter"]["quick"] == {"duration": 30.0}


def test_a_run_prints_narrative_table_figures_takeaways(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "rate-limiter", "--quick", "--set", "duration=6", "--out", str(tmp_path),
                 "--seed", "2"]) == 0
    out = capsys.readouterr().out
    for section in ("question (Interview question 4):", "setup:", "what to watch:", "results:", "figures:",
                    "takeaways:"):
        assert section in out
    assert "limit 10; 6.0 s per limiter" in " ".join(out.split())  # the narrative carries this run's parameters
    assert (tmp_path / "rate_limiters.png").is_file()


def test_json_run_is_deterministic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["scenario", "pipelining", "--set", "keys=100", "--set", "every=10", "--json", "--out", str(tmp_path)]
    assert main(args) == 0
    a = json.loads(capsys.readouterr().out)
    assert main(args) == 0
    b = json.loads(capsys.readouterr().out)
    assert a["table"] == b["table"] and a["takeaways"] == b["takeaways"]
    assert a["params"]["keys"] == 100 and a["figures"] == [str(tmp_path / "pipelining.png")]


@pytest.mark.parametrize("args, message", [
    (["scenario", "nope"], "unknown scenario 'nope'"),
    (["scenario", "pipelining", "--set", "keys"], "--set expects KEY=VALUE, got 'keys'"),
    (["scenario", "pipelining", "--set", "size=3"], "has no parameter 'size'"),
    (["scenario", "pipelining", "--set", "keys=many"], "keys expects int"),
    (["scenario", "pipelining", "--set", "keys=0"], "keys must be a number > 0"),
    (["scenario", "pipelining", "--seed", "-1"], "--seed must be an integer >= 0"),
    (["scenario", "pipelining", "--bogus"], "unrecognized arguments"),
    (["scenarios", "--topic", "nope"], "--topic 'nope' has no scenario"),
    (["cheatsheet", "--out", "sheet.txt"], "--out must name a markdown file"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(main(args))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_out_must_be_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["scenario", "pipelining", "--set", "keys=10", "--out", str(f)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err


@pytest.mark.slow
def test_cheatsheet_runs_every_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sheet.md"
    assert main(["cheatsheet", "--out", str(out)]) == 0
    text = out.read_text()
    for name, sc in load_scenarios().items():
        assert f"`simcache scenario {name}`" in text and f"## {sc.question}" in text
    images = [line.split('src="')[1].split('"')[0] for line in text.splitlines() if 'src="' in line]
    assert len(images) == len(scenario_names()) and all((tmp_path / i).is_file() for i in images)
