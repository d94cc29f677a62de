from __future__ import annotations

import json
import subprocess

from tests.conftest import cli, cli_env


def run(*args, check=False):
    return subprocess.run(cli(*args), env=cli_env(), capture_output=True, text=True, timeout=300, check=check)


def test_unknown_method_and_workload_errors(tmp_path):
    r = run("run", "quick", "--methods", "adamv", "--store", str(tmp_path / "x.sqlite"))
    assert r.returncode == 2 and "unknown method 'adamv'" in r.stderr and "Did you mean: adamw" in r.stderr
    r = run("run", "quick", "--workloads", "quadd", "--store", str(tmp_path / "x.sqlite"))
    assert r.returncode == 2 and "Did you mean: quad" in r.stderr


def test_hparam_outside_space_error(tmp_path):
    r = run(
        "run", "quick", "--hparams", json.dumps({"adamw": {"lr": 5.0}}), "--store", str(tmp_path / "x.sqlite")
    )
    assert r.returncode == 2 and "'lr' of adamw = 5.0 is outside its search space" in r.stderr


def test_missing_suite_lists_shipped(tmp_path):
    r = run("run", "quik")
    assert r.returncode == 2 and "quick" in r.stderr and "cpu-small" in r.stderr


def test_run_status_score_report_export_end_to_end(tmp_path):
    suite = tmp_path / "e2e.toml"
    suite.write_text(
        'name = "e2e"\nworkloads = ["toy-quad", "toy-quad-slow-eval"]\n'
        'methods = ["toy-sgd", "toy-sgd-tiny", "lbfgs"]\nrulesets = ["external-quick"]\n'
        'baseline = "toy-sgd"\nstudies = 2\ntrials = 2\njobs = 2\nmax-steps = 200\n'
    )
    db = tmp_path / "e2e.sqlite"
    r = run("run", str(suite), "--store", str(db), check=True)
    assert "trials: 0 already stored" in r.stdout
    r = run("run", str(suite), "--store", str(db), check=True)  # rerun: everything is stored
    assert "24 already stored, 0 run" in r.stdout
    assert "done" in run("status", str(db), check=True).stdout
    score = json.loads(run("score", str(db), "--json", check=True).stdout)
    assert score
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\nintro\n")
    for _ in range(2):  # regenerated in place, never duplicated
        run("score", str(db), "--readme", str(readme), check=True)
    body = readme.read_text()
    assert body.startswith("# Title\n\nintro\n") and body.count("<!-- scores:begin e2e") == 1
    assert body.count("<!-- scores:end e2e -->") == 1 and "| toy-sgd |" in body and "| lbfgs |" in body
    out = tmp_path / "r.html"
    assert str(out) in run("report", str(db), "-o", str(out), check=True).stdout and out.stat().st_size > 1000
    for fmt in ("csv", "parquet"):
        r = run("export", str(db), "--format", fmt, "-o", str(tmp_path / fmt), check=True)
        assert (tmp_path / fmt / f"trials.{fmt}").exists() and (tmp_path / fmt / f"evals.{fmt}").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text(suite.read_text().replace("studies = 2", "studies = 3"))
    r = run("run", str(bad), "--store", str(db))
    assert r.returncode == 2 and "refusing to mix results" in r.stderr
