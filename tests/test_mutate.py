"""The mutation tool (tools/mutate.py): which mutants it makes, that each is one change, and what it leaves alone."""
import ast
import os
import sys
import textwrap

from tests.conftest import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
import mutate  # pylint: disable=g-import-not-at-top,wrong-import-position
import mutation_targets  # pylint: disable=g-import-not-at-top,wrong-import-position

SOURCE = textwrap.dedent('''
    """Docstring with 1 + 2 that is never mutated."""
    import logging


    def f(x: int = 3, y=0.5) -> float:
      """Also not mutated: 4 < 5."""
      if x < 2 and y >= 0:
        raise ValueError(f"x={x + 1}")
      logging.info("n=%d", x * 2)
      total = -x
      total += y * 2.0
      assert x != 7
      return total / x
    ''')


def _mutants(tmp_path):
  path = tmp_path / "m.py"
  path.write_text(SOURCE)
  tree = ast.parse(SOURCE)
  return tree, [desc for _, _, _, desc in mutate.mutation_points(tree)]


def test_mutation_points_cover_operators_numbers_and_returns_but_not_strings_raises_or_logging(tmp_path):
  _, descs = _mutants(tmp_path)
  assert sorted(descs) == sorted([
      "Lt -> LtE", "2 -> 3", "GtE -> Gt", "0 -> 1", "And -> Or", "drop unary minus",
      "delete augmented assignment (Add)", "Mult -> Div", "2.0 -> 3", "Div -> Mult", "return None",
      "3 -> 4", "0.5 -> 0.75"])  # defaults count; the f-string, the log call, the assert and the docstrings do not


def test_each_mutant_changes_exactly_one_thing(tmp_path, monkeypatch):
  (tmp_path / "flatness_jax").mkdir()
  (tmp_path / "flatness_jax" / "m.py").write_text(SOURCE)
  monkeypatch.setattr(mutation_targets, "source_path", lambda module: os.path.join("flatness_jax", "m.py"))
  original = ast.unparse(ast.parse(SOURCE))
  seen = set()
  for m in mutate.mutants_of("m", str(tmp_path)):
    text = mutate.mutated_source("m", m.index, str(tmp_path))
    assert text != original, m
    seen.add(text)
    namespace = {}
    exec(compile(text, "m.py", "exec"), namespace)  # every mutant is valid Python
  assert len(seen) == len(mutate.mutants_of("m", str(tmp_path)))
  minus = next(m for m in mutate.mutants_of("m", str(tmp_path)) if m.description == "drop unary minus")
  assert "total = x" in mutate.mutated_source("m", minus.index, str(tmp_path))


def test_every_target_module_and_test_exists():
  for module, tests in mutation_targets.TARGETS.items():
    assert os.path.exists(os.path.join(REPO_ROOT, mutation_targets.source_path(module))), module
    for t in tests:
      assert os.path.exists(os.path.join(REPO_ROOT, t.split("::")[0])), (module, t)
  grouped = [m for ms in mutation_targets.GROUPS.values() for m in ms]
  assert sorted(grouped) == sorted(mutation_targets.TARGETS)


def test_the_tests_import_the_mutated_copy_not_an_installed_one(tmp_path):
  """flatness_curvature is installed editable from another checkout: a scratch copy whose tests imported that one
  would see no mutant of the library at all."""
  for package in ("flatness_jax", os.path.join("curvature", "flatness_curvature")):
    (tmp_path / package).mkdir(parents=True)
    (tmp_path / package / "__init__.py").write_text("")
  mutate.check_imports(str(tmp_path))
  (tmp_path / "curvature" / "flatness_curvature" / "__init__.py").unlink()
  (tmp_path / "curvature" / "flatness_curvature").rmdir()
  try:
    mutate.check_imports(str(tmp_path))
  except RuntimeError as e:
    assert "would not import the mutated copy" in str(e)
  else:  # only possible where no other flatness_curvature is importable at all
    raise AssertionError("check_imports accepted a copy without flatness_curvature")


def test_a_rerun_adds_the_newly_killed_and_moves_equivalents_out_of_the_score(monkeypatch):
  earlier = {"analysis.stats": {"mutants": 10, "killed": 6, "equivalent": 1, "errors": [],
                                "survivors": ["s:1:a", "s:2:b", "s:3:c"], "score": 6 / 9}}
  monkeypatch.setattr(mutate, "equivalent_keys", lambda: {"s:3:c"})
  merged = mutate.merge(earlier, {"analysis.stats": {"killed": 1, "survivors": ["s:2:b"]}})["analysis.stats"]
  assert (merged["killed"], merged["equivalent"], merged["survivors"]) == (7, 2, ["s:2:b"])
  assert merged["score"] == 7 / 8


def test_the_sample_spreads_over_the_module_and_every_equivalent_mutant_exists_with_a_reason():
  assert mutate.sample(list(range(10)), 4) == [0, 2, 5, 7] and mutate.sample(list(range(3)), 4) == [0, 1, 2]
  path = os.path.join(REPO_ROOT, "tools", "mutation_equivalent.txt")
  keys = mutate.equivalent_keys(path)
  assert keys
  for line in open(path):
    if line.strip() and not line.startswith("#"):
      assert len(line.split(" # ")) == 2 and line.split(" # ")[1].strip(), line  # key # why it cannot be killed
  for key in keys:
    module = key.split(":")[0]
    assert key in {m.key for m in mutate.mutants_of(module)}, f"stale equivalent mutant {key}"


def test_mutant_keys_are_unique_when_a_line_has_two_alike():
  """`n - 1 if a else 2 * n - 2` has two Sub -> Add mutants: the second is keyed ' #2', so a rerun or an
  equivalent entry names exactly one."""
  mutants = mutate.mutants_of("analysis.power")
  keys = [m.key for m in mutants]
  assert len(set(keys)) == len(keys)
  assert any(k.endswith(" #2") for k in keys)
