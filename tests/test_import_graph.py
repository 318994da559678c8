"""The package's import structure (tools/import_graph.py): no cycles, no upward import, side effects only in jobs;
and the checker itself finds each kind of violation in a planted tree (so the first test can fail)."""
import os
import subprocess
import sys
import textwrap

from tests.conftest import REPO_ROOT

sys.path.insert(0, os.path.join(REPO_ROOT, "tools"))
import import_graph  # pylint: disable=g-import-not-at-top,wrong-import-position


def test_flatness_jax_has_no_cycle_no_upward_import_and_no_side_effect_below_jobs():
  result = import_graph.check(REPO_ROOT)
  problems = {k: v for k, v in result.items() if not k.startswith("_") and v}
  assert not problems, problems
  packages = {p for p in result["_package_edges"]} | {q for v in result["_package_edges"].values() for q in v}
  assert packages <= set(import_graph.LAYERS)


def test_the_smallest_module_loads_nothing_else_of_ours():
  code = ("import sys, flatness_jax.tokens.vocab; "
          "print(sorted(m for m in sys.modules if m.startswith('flatness_jax')))")
  out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
  assert out.stdout.strip() == "['flatness_jax', 'flatness_jax.tokens', 'flatness_jax.tokens.vocab']"


def _tree(root, files: dict):
  for path, text in files.items():
    full = os.path.join(root, "flatness_jax", path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
      f.write(textwrap.dedent(text))
  return str(root)


def test_the_checker_finds_cycles_upward_imports_unlayered_packages_and_side_effects(tmp_path):
  root = _tree(tmp_path, {
      "__init__.py": "",
      "data/__init__.py": "",
      "data/a.py": "from flatness_jax.data import b\nfrom flatness_jax import jobs\n",
      "data/b.py": "def f():\n  from flatness_jax.data import a\n  print('x')\n  open('f', 'w')\n",
      "models/__init__.py": "",
      "models/m.py": "from flatness_jax.rundir import writer_lock\nimport os\nos.replace('a', 'b')\n",
      "rundir/__init__.py": "",
      "rundir/r.py": "from flatness_jax.models import m\nopen('x', 'a')  # rundir may write\n",
      "jobs/__init__.py": "",
      "jobs/j.py": "from flatness_jax.data import a\nprint('ok')\n",
      "extra/__init__.py": "",
      "loose.py": "",
  })
  r = import_graph.check(root)
  assert r["file cycles"] == [["flatness_jax.data.a", "flatness_jax.data.b"]]
  assert ["data", "jobs"] in r["package cycles"]
  assert "flatness_jax.data.a -> flatness_jax.jobs" in r["upward imports"]
  assert "flatness_jax.models.m -> flatness_jax.rundir" in r["upward imports"]
  assert set(r["packages without a layer"]) == {"extra", "flatness_jax.loose"}
  effects = r["side effects below jobs"]
  assert any(e.startswith("flatness_jax.data.b:3 prints") for e in effects)
  assert any(e.startswith("flatness_jax.data.b:4 writes (open)") for e in effects)
  assert any(e.startswith("flatness_jax.models.m:1 imports writer_lock") for e in effects)
  assert any(e.startswith("flatness_jax.models.m:3 writes (replace)") for e in effects)
  assert not any(e.startswith(("flatness_jax.rundir", "flatness_jax.jobs")) for e in effects)
