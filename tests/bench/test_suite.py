from __future__ import annotations

import pytest

from optarena.bench.suite import expand, find_suite, load_suite, suite_from_mapping
from optarena.core.errors import SuiteError

GOOD = """name = "t"
workloads = ["toy-quad"]
methods = ["toy-sgd", "toy-sgd-slow"]
rulesets = ["external-quick"]
"""


def write(tmp_path, text):
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


def test_shipped_suites_load():
    for name in ("quick", "cpu-small"):
        suite = load_suite(find_suite(name))
        specs, _ = expand(suite)
        assert specs and suite.name == name


def test_malformed_toml_names_file_and_line(tmp_path):
    p = write(tmp_path, GOOD + "studies = = 3\n")
    with pytest.raises(SuiteError, match=rf"{p}.*line 5"):
        load_suite(p)


def test_unknown_key_names_line_and_key(tmp_path):
    p = write(tmp_path, GOOD + "studys = 3\n")
    with pytest.raises(SuiteError, match=rf"{p}, line 5, key 'studys': unknown key"):
        load_suite(p)


def test_wrong_type_names_key(tmp_path):
    p = write(tmp_path, GOOD + 'studies = "three"\n')
    with pytest.raises(SuiteError, match=r"line 5, key 'studies'.*'three'"):
        load_suite(p)


def test_unknown_method_lists_closest(tmp_path):
    p = write(tmp_path, GOOD.replace('"toy-sgd",', '"toy-sdg",'))
    with pytest.raises(SuiteError, match=r"line 3, key 'methods'.*Did you mean: toy-sgd"):
        load_suite(p)


def test_hparam_outside_space_names_it(tmp_path):
    p = write(tmp_path, GOOD + "[hparams]\ntoy-sgd = { lr = 50.0 }\n")
    with pytest.raises(SuiteError, match=r"'lr' of toy-sgd = 50.0 is outside its search space"):
        load_suite(p)


def test_expand_shares_seeds_across_methods_and_uses_disjoint_halton_points():
    suite = suite_from_mapping(
        {
            "name": "t",
            "workloads": ["toy-quad"],
            "methods": ["toy-sgd", "toy-sgd-slow"],
            "rulesets": ["external"],
        }
    )
    specs, _ = expand(suite)
    assert len(specs) == 2 * 5 * 5
    by_method = {}
    for s in specs:
        by_method.setdefault(s.method, []).append((s.study, s.trial, s.seed, s.hparams["lr"]))
    a, b = by_method["toy-sgd"], by_method["toy-sgd-slow"]
    assert [x[:3] for x in a] == [x[:3] for x in b]  # same seeds for every method
    assert len({x[3] for x in a}) == 25  # 25 distinct Halton draws
    assert len({s.key for s in specs}) == len(specs)


def test_incompatible_pairs_are_skipped_with_a_note():
    suite = suite_from_mapping(
        {"name": "t", "workloads": ["toy-quad", "charlm"], "methods": ["lbfgs"], "rulesets": ["self-tuning"]}
    )
    specs, notes = expand(suite)
    assert {s.workload for s in specs} == {"toy-quad"}
    assert any("lbfgs on charlm" in n for n in notes)


def test_pairs_refused_by_a_capability_are_skipped_with_a_note():
    suite = suite_from_mapping(
        {
            "name": "t",
            "workloads": ["lvhba-toy", "ridge-tuning", "logreg", "logreg-target"],
            "methods": ["bilevel-penalty", "sso"],
            "rulesets": ["self-tuning"],
        }
    )
    specs, notes = expand(suite)
    assert {(s.method, s.workload) for s in specs} == {
        ("bilevel-penalty", "ridge-tuning"),
        ("sso", "logreg-target"),
    }
    assert any("bilevel-penalty on lvhba-toy" in n and "lower-constraints" in n for n in notes)
    assert any("sso on logreg:" in n and "target-space" in n for n in notes)


def test_cli_overrides_mirror_keys():
    suite = suite_from_mapping({"name": "t", "workloads": ["toy-quad"], "methods": ["toy-sgd"]})
    s2 = suite.with_options(studies=2, trials=1, **{"max-steps": 7})
    specs, _ = expand(s2)
    assert len(specs) == 2 and all(s.budget.max_steps == 7 for s in specs)
    with pytest.raises(SuiteError, match="jobs must be >= 1"):
        suite.with_options(jobs=0)
