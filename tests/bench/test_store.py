from __future__ import annotations

import pytest

from optarena.bench.store import Store
from optarena.core.errors import StoreMismatchError
from optarena.core.types import Budget, EvalPoint, TrialResult, TrialSpec, TrialStatus


def test_store_refuses_another_suite_version(tmp_path):
    path = tmp_path / "r.sqlite"
    Store.open(path, "quick", "abc", "1").close()
    Store.open(path, "quick", "abc", "1").close()  # same suite: fine
    with pytest.raises(StoreMismatchError, match=r"refusing to mix results.*suite 'quick' version '1'"):
        Store.open(path, "quick", "def", "2")
    with pytest.raises(StoreMismatchError):
        Store.open(path, "other", "abc", "1")


def test_result_round_trip(tmp_path):
    store = Store.open(tmp_path / "r.sqlite", "s", "f")
    spec = TrialSpec("toy-quad", "1", "toy-sgd", "1", {"lr": 0.5}, seed=3, budget=Budget(5.0, 10))
    store.add_pending([spec])
    assert store.statuses()[spec.key] == TrialStatus.PENDING
    store.mark_running(spec.key, store.add_run({"x": 1}), "local")
    result = TrialResult(
        spec.key,
        TrialStatus.DONE,
        [EvalPoint(0, 0.0, {"m": 1.0}), EvalPoint(5, 0.1, {"m": 0.5})],
        steps=5,
        timed_time=0.1,
        metric="m",
        target=0.6,
    )
    store.save_result(result)
    [(spec2, res2)] = store.trials()
    assert spec2 == spec and res2.curve == result.curve and res2.status == TrialStatus.DONE
    assert store.attempts()[spec.key] == 1


def test_foreign_files_are_refused_and_left_untouched(tmp_path):
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database")
    with pytest.raises(StoreMismatchError, match="not an OptArena results store"):
        Store.open(text, "s", "f")
    assert text.read_text() == "not a database"
    import sqlite3

    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE users (id INTEGER)")
    con.commit()
    con.close()
    with pytest.raises(StoreMismatchError, match="something else"):
        Store.open(other, "s", "f")
