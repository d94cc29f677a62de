"""kill -9 of a running suite, then the same command again: nothing lost, nothing run twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time

from optarena.bench.store import Store
from tests.conftest import cli, cli_env

SUITE = """name = "resume"
workloads = ["toy-quad"]
methods = ["toy-sgd-slow"]
rulesets = ["external"]
studies = 3
trials = 3
jobs = 1

[hparams.toy-sgd-slow]
lr = 0.05  # the smallest step of its space: trials of a second or more, so a run cannot end between polls
"""


def _finished(db) -> dict[str, float]:
    try:
        con = sqlite3.connect(db, timeout=5)
        rows = con.execute(
            "SELECT key, finished FROM trials WHERE status IN ('done','diverged','failed','timed_out')"
        ).fetchall()
        con.close()
        return dict(rows)
    except sqlite3.OperationalError:
        return {}


def test_kill_9_then_resume(tmp_path):
    suite, db = tmp_path / "resume.toml", tmp_path / "resume.sqlite"
    suite.write_text(SUITE)
    cmd = cli("--quiet", "run", str(suite), "--store", str(db))
    proc = subprocess.Popen(
        cmd, env=cli_env(), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.time() + 120
    while len(_finished(db)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    before = _finished(db)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver, its forkserver and the running worker
    proc.wait()
    assert 2 <= len(before) < 9, f"expected a partial run before the kill, got {len(before)} finished"

    subprocess.run(cmd, env=cli_env(), check=True, capture_output=True, timeout=300)
    store = Store.open_existing(db)
    trials = store.trials()
    attempts = store.attempts()
    after = _finished(db)
    assert len(trials) == 9 and all(r.status == "done" for _, r in trials)
    for key, finished in before.items():  # finished before the kill: kept as they were, never rerun
        assert after[key] == finished and attempts[key] == 1
    assert sum(attempts.values()) <= 9 + 1  # at most the one trial in flight ran twice


def test_ctrl_c_keeps_finished_trials(tmp_path):
    suite, db = tmp_path / "resume.toml", tmp_path / "resume.sqlite"
    suite.write_text(SUITE)
    cmd = cli("--quiet", "run", str(suite), "--store", str(db))
    proc = subprocess.Popen(
        cmd,
        env=cli_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # a terminal's foreground job gets SIGINT's default action; a shell's background job (a test
        # run started with `&`) inherits SIGINT ignored, which Python then keeps ignoring
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 120
    while len(_finished(db)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    before = _finished(db)
    running = proc.poll() is None
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends to the foreground group
    _, err = proc.communicate(timeout=60)
    assert running and len(before) < 9, f"the run ended (rc {proc.returncode}) before the interrupt: {before}"
    assert proc.returncode == 130 and b"finished trials are stored" in err, (proc.returncode, err[-2000:])
    after_interrupt = _finished(db)
    assert before.items() <= after_interrupt.items() and len(after_interrupt) < 9
    subprocess.run(cmd, env=cli_env(), check=True, capture_output=True, timeout=300)
    final = _finished(db)
    assert len(final) == 9 and all(final[k] == v for k, v in after_interrupt.items())
