"""The Ray executor against a real local Ray head (started with the ``ray`` CLI, bound to 127.0.0.1)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the ray executor tests need the `ray` extra: pip install 'optarena[ray]'")

import ray

from optarena import registry
from optarena.bench.runner import run_suite
from optarena.bench.store import Store
from optarena.bench.suite import suite_from_mapping
from optarena.testing.toys import register_toys

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_cli() -> str:
    exe = Path(sys.executable).parent / "ray"
    if not exe.exists():
        pytest.skip(f"no `ray` command next to {sys.executable}")
    return str(exe)


def _head_env() -> dict[str, str]:
    """The environment of the head (and so of its workers): without this checkout's src on PYTHONPATH,
    so that the workers import optarena the way they would on a cluster (installed, or through the
    runtime_env the executor adds when it is not installed)."""
    env = dict(os.environ)
    parts = env.get("PYTHONPATH", "").split(os.pathsep)
    env["PYTHONPATH"] = os.pathsep.join(p for p in parts if p and Path(p).resolve() != SRC.resolve())
    return env


def _pids_in_session(sid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                if os.getsid(int(d.name)) == sid:
                    out.append(int(d.name))
            except (ProcessLookupError, PermissionError):
                pass
    return out


@pytest.fixture(scope="module")
def ray_address():
    """A real Ray head on 127.0.0.1 with 2 CPUs. Torn down by killing the processes of the session the
    head was started in (only those: `ray stop --force` would kill every Ray process on the machine)."""
    # No usage reports; no token authentication (Ray >= 2.52 turns it on in `ray start --head` when
    # ~/.ray/auth_token exists, while a driver that connects by address does not send the token).
    settings = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    port = _free_port()
    temp_dir = tempfile.mkdtemp(prefix="oa-ray-")  # short: Ray's socket paths live under it
    cmd = [
        _ray_cli(),
        "start",
        "--head",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        "--num-cpus=2",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--temp-dir={temp_dir}",
        f"--dashboard-agent-listen-port={_free_port()}",
        "--object-store-memory=200000000",
    ]
    head = subprocess.Popen(
        cmd,
        env=_head_env(),
        cwd=temp_dir,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out, _ = head.communicate(timeout=120)
    sid = head.pid  # the session every head process (and worker) belongs to
    try:
        if head.returncode != 0:
            pytest.fail(f"`ray start` failed ({head.returncode}):\n{out[-3000:]}")
        yield f"127.0.0.1:{port}"
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = _pids_in_session(sid)
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 3.0
            while pids and _pids_in_session(sid) and time.monotonic() < deadline:
                time.sleep(0.1)
        shutil.rmtree(temp_dir, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _suite(executor: str, address: str | None = None, **extra):
    data = {
        "name": "ray-test",
        "workloads": ["toy-quad"],
        "methods": ["toy-sgd"],
        "rulesets": ["external-quick"],
        "studies": 2,
        "trials": 2,
        "executor": executor,
        **extra,
    }
    if address:
        data["address"] = address
    return suite_from_mapping(data)


def _by_key(path: Path):
    store = Store.open_existing(path)
    try:
        return {spec.key: (spec, result) for spec, result in store.trials()}
    finally:
        store.close()


def _last_executor(path: Path) -> str:
    store = Store.open_existing(path)
    try:
        return store.runs()[-1]["executor"]
    finally:
        store.close()


def _assert_same_curves(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() and a
    for key, (spec, ra) in a.items():
        rb = b[key][1]
        assert ra.status == rb.status, (spec.method, spec.study, spec.trial)
        assert ra.curve, "every trial evaluated at least once"
        assert [(p.step, dict(p.metrics)) for p in ra.curve] == [(p.step, dict(p.metrics)) for p in rb.curve]


def test_same_seed_same_curves_locally_and_on_ray(ray_address, tmp_path):
    register_toys()
    local = run_suite(_suite("local"), store_path=tmp_path / "local.sqlite", quiet=True)
    remote = run_suite(_suite("ray", ray_address), store_path=tmp_path / "ray.sqlite", quiet=True)
    assert local.ran == remote.ran == 4
    _assert_same_curves(_by_key(tmp_path / "local.sqlite"), _by_key(tmp_path / "ray.sqlite"))
    assert _last_executor(tmp_path / "local.sqlite") == "local"
    assert _last_executor(tmp_path / "ray.sqlite") == "ray"


def test_same_seed_same_curves_on_a_real_workload(ray_address, tmp_path):
    pytest.importorskip("optarena.workloads.quad", reason="the quad workload is not written yet")
    if "quad" not in {e.name for e in registry.list_workloads()}:
        pytest.skip("quad is not registered")
    extra = {"workloads": ["quad"], "methods": ["adamw"], "studies": 1, "trials": 2, "max-steps": 50}
    run_suite(_suite("local", **extra), store_path=tmp_path / "local.sqlite", quiet=True)
    run_suite(_suite("ray", ray_address, **extra), store_path=tmp_path / "ray.sqlite", quiet=True)
    _assert_same_curves(_by_key(tmp_path / "local.sqlite"), _by_key(tmp_path / "ray.sqlite"))


def test_failures_are_isolated_on_ray(ray_address, tmp_path):
    register_toys()
    suite = _suite(
        "ray",
        ray_address,
        methods=["toy-raise", "toy-nan", "toy-hang", "toy-crash", "toy-sgd"],
        rulesets=["self-tuning"],
        studies=1,
        **{"trial-timeout": 5.0},
    )
    summary = run_suite(suite, store_path=tmp_path / "f.sqlite", quiet=True)
    assert summary.ran == 5
    results = {spec.method: result for spec, result in _by_key(tmp_path / "f.sqlite").values()}
    errors = {m: (r.error or "")[-400:] for m, r in results.items()}
    assert {m: str(r.status) for m, r in results.items()} == {
        "toy-raise": "failed",
        "toy-nan": "diverged",
        "toy-hang": "timed_out",
        "toy-crash": "failed",
        "toy-sgd": "done",
    }, errors
    assert "Traceback" in results["toy-raise"].error and "toy method failure" in results["toy-raise"].error
    assert "timed out" in results["toy-hang"].error
    assert results["toy-hang"].curve, "a timed-out trial keeps the evals it streamed"
    assert "died" in results["toy-crash"].error


def test_cli_run_with_the_ray_executor(ray_address, tmp_path):
    if "quad" not in {e.name for e in registry.list_workloads()}:
        pytest.skip("quad is not registered")
    pytest.importorskip("optarena.workloads.quad", reason="the quad workload is not written yet")
    suite = tmp_path / "tiny.toml"
    suite.write_text('name = "tiny"\nworkloads = ["quad"]\nmethods = ["adamw"]\n')
    store = tmp_path / "tiny.sqlite"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    flags = f"--executor ray --address {ray_address} --max-steps 30 --studies 1 --trials 1".split()
    proc = subprocess.run(
        [sys.executable, "-m", "optarena", "-q", "run", str(suite), "--store", str(store), *flags],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = _by_key(store)
    assert len(rows) == 1
    ((_spec, result),) = rows.values()
    assert str(result.status) == "done" and 0 < result.steps <= 30 and result.curve
    assert _last_executor(store) == "ray"


def test_a_claim_runs_on_ray_with_the_local_numbers(ray_address, tmp_path):
    """`optarena verify --executor ray`: claim seeds are experiment trials, so Ray runs them as it
    runs training trials; the stored numbers (and so the verdict) equal the local executor's."""
    from optarena.claims.engine import run_claim
    from optarena.claims.spec import load_claim
    from tests.claims.test_verify import write_claim

    claim = load_claim(write_claim(tmp_path))
    local = run_claim(claim, quick=True, root=tmp_path / "local", quiet=True)
    remote = run_claim(
        claim, quick=True, executor="ray", address=ray_address, root=tmp_path / "ray", quiet=True
    )
    assert remote.seeds == local.seeds and remote.verdict == local.verdict
    assert _last_executor(tmp_path / "ray" / "claims-quick" / "toy.sqlite") == "ray"
