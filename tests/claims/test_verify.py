"""The claims machinery: claim files, statistics, verdicts from the store, resume, forged results."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from optarena.claims.engine import load_result, run_claim, store_path
from optarena.claims.render import README_BEGIN, README_END, claims_page, readme_table, update_readme
from optarena.claims.spec import ClaimError, Rule, load_claim, load_claims
from optarena.claims.stats import Verdict, evaluate_rule, verdict, wilson
from optarena.cli import main

TOY = "optarena.testing.toy_experiments:noisy_value"


def write_claim(d: Path, cid: str = "toy", rules: str | None = None, **over) -> Path:
    fields = dict(
        id=f'"{cid}"',
        family='"torch-optimizer"',
        paper='"A. Author, \\"A toy\\", Nowhere 2026"',
        sentence='"the value is large"',
        setting='"a normal draw per seed"',
        baseline='"zero"',
        tuning='"none"',
        experiment=f'"{TOY}"',
        seeds="5",
        options="{ loc = 10.0, scale = 1.0 }",
    )
    fields.update(over)
    body = "\n".join(f"{k} = {v}" for k, v in fields.items() if v is not None)
    body += "\n[quick]\nseeds = 3\noptions = { scale = 0.5 }\n"
    body += rules or (
        '[[rules]]\nname = "value"\nmetric = "value"\nstat = "median"\nop = ">="\nthreshold = 5.0\n'
        '[[rules]]\nname = "positive"\nmetric = "positive"\nstat = "count"\nop = ">="\nthreshold = 3\n'
    )
    path = d / f"{cid}.toml"
    path.write_text(body)
    return path


# -- claim files ---------------------------------------------------------------------------------
def test_claim_file_round_trip(tmp_path):
    c = load_claim(write_claim(tmp_path))
    assert c.full.seeds == 5 and c.quick.seeds == 3
    assert c.full.options == {"loc": 10.0, "scale": 1.0}
    assert c.quick.options == {"loc": 10.0, "scale": 0.5}  # quick options overlay the full ones
    assert [r.stat for r in c.rules] == ["median", "count"]


@pytest.mark.parametrize(
    "over, words",
    [
        (dict(seeds="3"), "seeds must be an integer >= 5, got 3"),
        (dict(id='"other"'), "must equal the file name"),
        (dict(family='"cooking"'), "family 'cooking'"),
        (dict(experiment='"nocolon"'), "experiment 'nocolon'"),
        (dict(sentence=None), "missing ['sentence']"),
        (dict(colour='"red"'), "unknown keys ['colour']"),
    ],
)
def test_bad_claim_files_name_the_problem(tmp_path, over, words):
    with pytest.raises(ClaimError) as e:
        load_claim(write_claim(tmp_path, **over))
    assert words in str(e.value) and "toy.toml" in str(e.value)


@pytest.mark.parametrize(
    "rule, words",
    [
        ('[[rules]]\nname="x"\nmetric="value"\nstat="mode"\nop=">="\nthreshold=1\n', "stat is 'mode'"),
        ('[[rules]]\nname="x"\nmetric="value"\nstat="mean"\nop="=="\nthreshold=1\n', "op is '=='"),
        ('[[rules]]\nname="x"\nmetric="value"\nstat="mean"\nop=">="\nthreshold="1"\n', "threshold must be"),
        ('[[rules]]\nname="x"\nstat="mean"\nop=">="\nthreshold=1\n', "lacks ['metric']"),
    ],
)
def test_bad_rules_name_the_problem(tmp_path, rule, words):
    with pytest.raises(ClaimError, match="rules\\[0\\]") as e:
        load_claim(write_claim(tmp_path, rules=rule))
    assert words in str(e.value)


# -- statistics and verdicts ---------------------------------------------------------------------
def test_wilson_interval():
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)
    assert wilson(0, 0) == (0.0, 1.0)


def test_rule_outcomes_and_verdicts():
    r = Rule("r", "m", "median", "<=", 1.0)
    clear = evaluate_rule(r, [0.1, 0.2, 0.15, 0.3, 0.12])
    assert clear.holds and clear.decided and clear.low <= clear.value <= clear.high
    straddle = evaluate_rule(r, [0.5, 1.5, 0.9, 1.2, 0.8])
    assert not straddle.decided
    fail = evaluate_rule(r, [3.0, 4.0, 5.0, 3.5, 4.5])
    assert fail.decided and not fail.holds
    assert verdict([clear], complete=True) == Verdict.REPRODUCED
    assert verdict([clear], complete=False) == Verdict.INCONCLUSIVE  # a missing seed
    assert verdict([clear, straddle], complete=True) == Verdict.INCONCLUSIVE
    assert verdict([clear, fail], complete=True) == Verdict.NOT_REPRODUCED
    assert not evaluate_rule(r, [0.1, float("nan")]).decided  # NaN: undecidable, never a pass
    # "fraction" estimates a rate: 3 of 3 seeds is not decidedly >= 0.5; "count" states what was seen.
    assert not evaluate_rule(Rule("f", "m", "fraction", ">=", 0.5), [1, 1, 1]).decided
    counted = evaluate_rule(Rule("c", "m", "count", ">=", 3), [1, 1, 1, 0])
    assert counted.value == 3 and counted.decided and counted.holds
    worst = evaluate_rule(Rule("w", "m", "max", "<=", 1.0), [0.1, 1.1])
    assert worst.decided and not worst.holds


# -- running, storing, resuming, judging -----------------------------------------------------------
def test_run_resume_and_forged_result_changes_verdict(tmp_path):
    claim = load_claim(write_claim(tmp_path))
    r = run_claim(claim, quick=True, root=tmp_path / "res", quiet=True)
    assert r.verdict == Verdict.REPRODUCED and sorted(r.seeds) == [0, 1, 2]
    assert all(m["quick"] == 1.0 for m in r.seeds.values())
    path = store_path(claim, True, tmp_path / "res")
    assert json.loads(path.with_suffix(".json").read_text())["verdict"] == Verdict.REPRODUCED
    con = sqlite3.connect(path)
    attempts = con.execute("SELECT SUM(attempts) FROM trials").fetchone()[0]
    run_claim(claim, quick=True, root=tmp_path / "res", quiet=True)  # resumes: nothing reruns
    assert con.execute("SELECT SUM(attempts) FROM trials").fetchone()[0] == attempts
    # Forge every stored value: the verdict follows the store, not a cached summary.
    forged = json.dumps({"value": -100.0, "positive": 0.0, "quick": 1.0})
    with con:
        con.execute("UPDATE evals SET metrics=?", (forged,))
    con.close()
    again = load_result(claim, True, tmp_path / "res")
    assert again.verdict == Verdict.NOT_REPRODUCED
    assert again.seeds[0]["value"] == -100.0


def test_failed_seed_is_reported_and_never_passes(tmp_path):
    claim = load_claim(write_claim(tmp_path, options="{ loc = 10.0, fail_seed = 1 }"))
    r = run_claim(claim, quick=True, root=tmp_path / "res", quiet=True)
    assert r.verdict == Verdict.INCONCLUSIVE
    assert sorted(r.seeds) == [0, 2] and "toy failure on seed 1" in r.failed[1]


def test_changed_options_are_new_trials(tmp_path):
    d = tmp_path / "c"
    d.mkdir()
    claim = load_claim(write_claim(d))
    run_claim(claim, quick=True, root=tmp_path / "res", quiet=True)
    moved = load_claim(write_claim(d, options="{ loc = -10.0, scale = 1.0 }"))
    store = run_claim(moved, quick=True, root=tmp_path / "res", quiet=True)
    assert store.verdict == Verdict.NOT_REPRODUCED  # judged on the new trials only


def test_page_and_readme(tmp_path):
    claim = load_claim(write_claim(tmp_path))
    r = run_claim(claim, quick=True, root=tmp_path / "res", quiet=True)
    page = claims_page([r])
    assert page.count("<tr><td>") == 1 and 'id="toy"' in page and 'data-plot="claim-rule"' in page
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\nintro\n")
    update_readme(readme, readme_table([r], "test machine"))
    update_readme(readme, readme_table([r], "test machine"))  # replaces, never duplicates
    body = readme.read_text()
    assert body.count(README_BEGIN) == 1 and body.count(README_END) == 1
    assert "| `toy` |" in body and "test machine" in body and "**reproduced**" in body


def test_cli_verify(tmp_path, capsys):
    d = tmp_path / "c"
    d.mkdir()
    write_claim(d)
    res = str(tmp_path / "res")
    assert main(["verify", "toy", "--quick", "--claims-dir", str(d), "--results", res, "-q"]) == 0
    out = capsys.readouterr().out
    assert "toy (quick): REPRODUCED" in out and "median(value) >= 5" in out
    assert main(["verify", "--list", "--claims-dir", str(d), "--results", res]) == 0
    assert "reproduced" in capsys.readouterr().out
    assert main(["verify", "nope", "--claims-dir", str(d), "--results", res]) == 2
    assert "unknown claim 'nope'" in capsys.readouterr().err
    assert main(["verify", "--claims-dir", str(d), "--results", res]) == 2


# -- the shipped claims ------------------------------------------------------------------------------
def test_shipped_claims_are_well_formed():
    from optarena.core.spec import load_object

    claims = load_claims()
    for c in claims.values():
        assert c.full.seeds >= 5, c.id
        assert callable(load_object(c.experiment)), c.id
        assert c.sentence and c.setting and c.baseline and c.tuning, c.id


@pytest.mark.timeout(1800)  # ~20 claims x 2 seeds: a few minutes on 2 idle cores
def test_every_shipped_claim_runs_in_quick_mode(tmp_path, capsys):
    """`optarena verify --all --quick`: every claim's experiment runs (no failed seed) and is judged
    by its own rules; the claims page has one row per claim and the README table is regenerated.
    Whether a claim passes in quick mode is not checked: quick runs are too small to mean anything."""
    claims = load_claims()
    readme = tmp_path / "README.md"
    readme.write_text("# OptArena\n")
    args = ["verify", "--all", "--quick", "-j", "2", "--results", str(tmp_path / "res"), "-q"]
    assert main([*args, "--readme", str(readme)]) == 0
    out = capsys.readouterr().out
    for cid, claim in claims.items():
        r = load_result(claim, True, tmp_path / "res")
        assert r is not None and not r.failed, f"{cid}: {r and r.failed}"
        assert len(r.seeds) == claim.quick.seeds, cid
        assert f"{cid} (quick): {r.verdict.upper()}" in out
    page = (tmp_path / "res" / "claims-quick" / "index.html").read_text()
    assert page.count("<tr><td>") == len(claims)
    body = readme.read_text()
    assert all(f"| `{cid}` |" in body for cid in claims)
