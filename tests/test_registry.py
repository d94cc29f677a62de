from __future__ import annotations

import subprocess
import sys
import time

import pytest

from optarena import registry
from optarena.core.errors import UnknownNameError
from optarena.core.spec import MethodSpec


def test_list_does_not_import_torch_and_is_fast():
    code = (
        "import sys; from optarena.cli import main; main(['list']);"
        "assert 'torch' not in sys.modules, 'list imported torch';"
        "assert 'numpy' not in sys.modules, 'list imported numpy'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # warm the file cache
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "optarena", "list"], check=True, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - t0
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    assert "adamw" in out.stdout and "charlm" in out.stdout
    assert elapsed < 1.0, f"optarena list took {elapsed:.2f} s"


def test_every_builtin_resolves_and_matches_its_entry():
    for entry in registry.list_methods():
        spec = registry.resolve_method(entry.name)
        assert isinstance(spec, MethodSpec)
        if entry.source == "builtin":
            assert (spec.family, spec.summary) == (entry.family, entry.summary), entry.name
    for entry in registry.list_workloads():
        w = registry.resolve_workload(entry.name)
        assert w.id == entry.name
        assert 10 <= w.max_runtime <= 120 or entry.source != "builtin", (w.id, w.max_runtime)


def test_unknown_name_lists_closest():
    with pytest.raises(UnknownNameError, match=r"Did you mean: adamw"):
        registry.resolve_method("adamv")
    with pytest.raises(UnknownNameError, match=r"digits-mlp"):
        registry.resolve_workload("digit-mlp")


def test_duplicate_registration_raises():
    with pytest.raises(ValueError, match="already registered"):
        registry.register_method("optarena.optim.baselines:ADAMW")


def test_entry_point_plugins(monkeypatch):
    class FakeEP:
        name = "plugin-adamw"
        value = "tests.plugin_fixture:SPEC"
        dist = None

    monkeypatch.setattr(
        registry, "entry_points", lambda group: [FakeEP()] if group == "optarena.methods" else []
    )
    registry._plugins.cache_clear()
    try:
        names = [e.name for e in registry.list_methods()]
        assert "plugin-adamw" in names
        entry = next(e for e in registry.list_methods() if e.name == "plugin-adamw")
        assert entry.target == "tests.plugin_fixture:SPEC" and entry.source == "?"
    finally:
        registry._plugins.cache_clear()
