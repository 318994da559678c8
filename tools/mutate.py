"""Mutation testing of the modules whose numbers the report prints: does some test fail when the code is wrong?

For each chosen module the tool makes small plausible bugs one at a time — a flipped arithmetic operator (+ ↔ −,
* ↔ /), an off-by-one comparison (< ↔ ≤, > ↔ ≥, == ↔ !=), a changed number (0 ↔ 1, n → n + 1, a float × 1.5), a
dropped unary minus, `and` ↔ `or`, a deleted augmented assignment (`x += y` → pass), a `return x` → `return None` —
runs the module's tests (tools/mutation_targets.py) against each mutant in a scratch copy of the repository, and
counts a mutant killed when a test fails (or times out), survived when they all pass. Code that cannot change a
number is not mutated: docstrings, strings, f-strings, raise / assert / logging statements, and type annotations.
Mutants listed in tools/mutation_equivalent.txt (equivalent to the original: no test could kill them) are counted
but not run, and left out of the score.

    python tools/mutate.py --modules=analysis.stats,curvature.hutchinson [--max=40] [--out=mutants.json]
    python tools/mutate.py --groups=statistics          # the module groups of tools/mutation_targets.py
    python tools/mutate.py --list                       # the mutants of --modules, without running anything
    python tools/mutate.py --rerun=mutants.json         # only the survivors of an earlier --out, after new tests

The score of a module is killed / (mutants − equivalent). Runs take about (tests' time + start-up) per mutant: the
targets list fast tests per module so that a group finishes within an hour on 2 cores.
"""
import argparse
import ast
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mutation_targets  # pylint: disable=g-import-not-at-top,wrong-import-position

_ARITH = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Mult,
          ast.Pow: ast.Mult}
_COMPARE = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
            ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
_BOOL = {ast.And: ast.Or, ast.Or: ast.And}
_SKIP_CALLS = ("warn", "info", "warning", "debug", "error", "exception", "print", "format")


@dataclasses.dataclass(frozen=True)
class Mutant:
  module: str        # dotted name under flatness_jax (or a path for the curvature library)
  index: int         # the index-th mutation point of the module, in AST walk order
  line: int
  description: str   # e.g. "Add -> Sub", "0 -> 1"
  occurrence: int = 1  # the n-th mutant of the module with this line and description (`n - 1` → `n + 1` has two)

  @property
  def key(self) -> str:
    """module:line:description, with ' #n' for the n-th (n ≥ 2) mutant of the same line and description."""
    suffix = f" #{self.occurrence}" if self.occurrence > 1 else ""
    return f"{self.module}:{self.line}:{self.description}{suffix}"


def _skipped_nodes(tree) -> set:
  """ids of every node under a docstring, raise, assert, logging/warning call, annotation or f-string, and under a
  module-level table of presets (`PRESETS = {...}`: the experiments' design choices, which tests check computations
  against brute force for, whatever the values)."""
  skip = set()

  def mark(node):
    for n in ast.walk(node):
      skip.add(id(n))
  for node in ast.walk(tree):
    if isinstance(node, (ast.Raise, ast.Assert, ast.JoinedStr)):
      mark(node)
    elif isinstance(node, ast.Call):
      f = node.func
      name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
      if name in _SKIP_CALLS:
        mark(node)
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      for a in node.args.args + node.args.kwonlyargs + node.args.posonlyargs:
        if a.annotation:
          mark(a.annotation)
      if node.returns:
        mark(node.returns)
    elif isinstance(node, ast.AnnAssign):
      mark(node.annotation)
    elif (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
          and any(isinstance(t, ast.Name) and t.id == "PRESETS" for t in node.targets)):
      mark(node.value)
    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
      first = node.body[0]
      if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        mark(first)
  return skip


def _number_mutations(value):
  if isinstance(value, bool):
    return [(not value, f"{value} -> {not value}")]
  if isinstance(value, int):
    return [(value + 1, f"{value} -> {value + 1}")]
  if isinstance(value, float):
    return [(value * 1.5, f"{value} -> {value * 1.5:g}")] if value else [(1.0, "0.0 -> 1.0")]
  return []


def mutation_points(tree) -> list:
  """[(node, new_node_factory, description)] of every mutation of the module (walk order, deterministic)."""
  skip = _skipped_nodes(tree)
  points = []
  for node in ast.walk(tree):
    if id(node) in skip:
      continue
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITH:
      new = _ARITH[type(node.op)]
      points.append((node, "op", new, f"{type(node.op).__name__} -> {new.__name__}"))
    elif isinstance(node, ast.Compare):
      for i, op in enumerate(node.ops):
        if type(op) in _COMPARE:
          new = _COMPARE[type(op)]
          points.append((node, ("ops", i), new, f"{type(op).__name__} -> {new.__name__}"))
    elif isinstance(node, ast.BoolOp):
      new = _BOOL[type(node.op)]
      points.append((node, "op", new, f"{type(node.op).__name__} -> {new.__name__}"))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
      points.append((node, "drop_minus", None, "drop unary minus"))
    elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
      for value, text in _number_mutations(node.value):
        points.append((node, "value", value, text))
    elif isinstance(node, ast.AugAssign):
      points.append((node, "delete", None, f"delete augmented assignment ({type(node.op).__name__})"))
    elif isinstance(node, ast.Return) and node.value is not None and not (
        isinstance(node.value, ast.Constant) and node.value.value is None):
      points.append((node, "return_none", None, "return None"))
  return points


class _Apply(ast.NodeTransformer):
  """Applies the index-th mutation point (matched by walk order of the same source)."""

  def __init__(self, target, how, new):
    self.target, self.how, self.new = target, how, new

  def generic_visit(self, node):
    node = super().generic_visit(node)
    if node is not self.target:
      return node
    if self.how == "op":
      node.op = self.new()
    elif isinstance(self.how, tuple):
      node.ops[self.how[1]] = self.new()
    elif self.how == "value":
      node.value = self.new
    elif self.how == "drop_minus":
      return node.operand
    elif self.how == "delete":
      return ast.Pass()
    elif self.how == "return_none":
      node.value = ast.Constant(None)
    return node


def module_path(module: str, root: str = ROOT) -> str:
  return os.path.join(root, mutation_targets.source_path(module))


def mutants_of(module: str, root: str = ROOT) -> list:
  tree = ast.parse(open(module_path(module, root)).read())
  seen = {}
  out = []
  for i, (node, _, _, desc) in enumerate(mutation_points(tree)):
    seen[(node.lineno, desc)] = seen.get((node.lineno, desc), 0) + 1
    out.append(Mutant(module, i, node.lineno, desc, seen[(node.lineno, desc)]))
  return out


def mutated_source(module: str, index: int, root: str = ROOT) -> str:
  tree = ast.parse(open(module_path(module, root)).read())
  node, how, new, _ = mutation_points(tree)[index]
  tree = _Apply(node, how, new).visit(tree)
  return ast.unparse(ast.fix_missing_locations(tree))


def _env(scratch: str) -> dict:
  """The tests' environment: the scratch copy's flatness_jax and flatness_curvature ahead of any installed ones."""
  path = os.pathsep.join([scratch, os.path.join(scratch, "curvature")])
  return dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=path, PYTHONDONTWRITEBYTECODE="1")


def check_imports(scratch: str) -> None:
  """RuntimeError unless the packages the tests import are the scratch copy's (an editable install elsewhere would
  run every mutant's tests against unmutated code, and every mutant would survive)."""
  code = ("import importlib.util as u; print(u.find_spec('flatness_jax').origin); "
          "print(u.find_spec('flatness_curvature').origin)")  # located, not imported
  proc = subprocess.run([sys.executable, "-c", code], cwd=scratch, env=_env(scratch), capture_output=True,
                        text=True, check=False)
  files = proc.stdout.split()
  real = os.path.realpath(scratch)
  if proc.returncode or len(files) != 2 or not all(os.path.realpath(f).startswith(real + os.sep) for f in files):
    raise RuntimeError(f"the tests would not import the mutated copy in {scratch}: {proc.stdout}{proc.stderr}")


def _run_tests(scratch: str, tests: list, timeout: float) -> str:
  env = _env(scratch)
  try:
    proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not slow",
                           *tests], cwd=scratch, env=env, capture_output=True, text=True, timeout=timeout)
  except subprocess.TimeoutExpired:
    return "killed (timeout)"
  if proc.returncode == 0:
    return "survived"
  if proc.returncode == 1:
    return "killed"
  if proc.returncode == 2:  # the mutated module does not import: no test can pass
    return "killed (collection error)"
  return f"error (pytest exit {proc.returncode})"


def _scratch_copy() -> str:
  scratch = tempfile.mkdtemp(prefix="flatness_mutants_")
  ignore = shutil.ignore_patterns(".git", "runs", "__pycache__", "*.egg-info", ".pytest_cache", "results")
  for name in os.listdir(ROOT):
    src = os.path.join(ROOT, name)
    if name in (".git", "runs", "results"):
      continue
    if os.path.isdir(src):
      shutil.copytree(src, os.path.join(scratch, name), ignore=ignore, symlinks=True)
    else:
      shutil.copy2(src, scratch)
  return scratch


def equivalent_keys(path: str = os.path.join(ROOT, "tools", "mutation_equivalent.txt")) -> set:
  """Mutant keys (module:line:description) listed as equivalent, one per line before a ' # reason'."""
  if not os.path.exists(path):
    return set()
  return {line.split(" # ")[0].strip() for line in open(path) if line.strip() and not line.startswith("#")}


def sample(mutants: list, max_per_module=None) -> list:
  """At most max_per_module of a module's mutants, spread evenly over it (all of them without a cap)."""
  if max_per_module and len(mutants) > max_per_module:
    step = len(mutants) / max_per_module
    mutants = [mutants[int(i * step)] for i in range(max_per_module)]
  return mutants


def run(modules, max_per_module=None, timeout_factor=4.0, out=None, only=None) -> dict:
  """Mutates and tests each module; returns {module: {mutants, killed, survived, equivalent, score, survivors}}.
  Mutants listed as equivalent are not run. `only`: a set of mutant keys; then just those are run (e.g. the
  survivors of an earlier run, after tests were added)."""
  scratch = _scratch_copy()
  check_imports(scratch)
  equivalent = equivalent_keys()
  report = {}
  baselines = {}  # tests -> seconds: modules with the same tests share one unmutated run
  try:
    for module in modules:
      tests = mutation_targets.tests_for(module)
      path = module_path(module, scratch)
      original = open(path).read()
      mutants = mutants_of(module, scratch)
      if only is not None:
        mutants = [m for m in mutants if m.key in only]
        if not mutants:
          continue
      else:
        mutants = sample(mutants, max_per_module)
      eq = [m.key for m in mutants if m.key in equivalent]
      if len(eq) == len(mutants):  # nothing to run
        report[module] = {"mutants": len(eq), "killed": 0, "equivalent": len(eq), "errors": [],
                          "score": float("nan"), "survivors": [], "tests": tests}
        continue
      t0 = time.time()
      if tuple(tests) not in baselines:
        base = _run_tests(scratch, tests, timeout=1800)
        if base != "survived":
          raise RuntimeError(f"{module}: its tests fail on the unmutated code ({base}): {tests}")
        baselines[tuple(tests)] = time.time() - t0
      baseline = baselines[tuple(tests)]
      rows = []
      try:
        for m in (m for m in mutants if m.key not in equivalent):
          text = mutated_source(module, m.index, scratch)
          with open(path, "w") as f:
            f.write(text)
          outcome = _run_tests(scratch, tests, timeout=max(30.0, timeout_factor * baseline))
          with open(path, "w") as f:
            f.write(original)
          rows.append((m, outcome))
          print(f"{m.key:70s} {outcome}", flush=True)
      finally:
        with open(path, "w") as f:
          f.write(original)
      killed = sum(o.startswith("killed") for _, o in rows)
      counted = len(rows)
      survivors = [m.key for m, o in rows if o == "survived"]
      errors = [m.key for m, o in rows if o.startswith("error")]
      report[module] = {"mutants": len(rows) + len(eq), "killed": killed, "equivalent": len(eq), "errors": errors,
                        "score": killed / counted if counted else float("nan"), "survivors": survivors,
                        "tests": tests, "baseline_seconds": round(baseline, 1),
                        "seconds": round(time.time() - t0, 1)}
      print(f"== {module}: {killed}/{counted} killed ({100 * report[module]['score']:.0f}%), "
            f"{len(eq)} equivalent, {len(errors)} errors, {report[module]['seconds']:.0f} s", flush=True)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  if out:
    with open(out, "w") as f:
      json.dump(report, f, indent=2)
  return report


def merge(earlier: dict, rerun: dict) -> dict:
  """The earlier report with its survivors replaced by their outcomes in `rerun` (survivors now listed as
  equivalent move to the equivalent count)."""
  equivalent = equivalent_keys()
  merged = {}
  for module, r in earlier.items():
    again = rerun.get(module)
    survivors = [k for k in r["survivors"] if k not in equivalent]
    newly_equivalent = len(r["survivors"]) - len(survivors)
    killed = r["killed"] + (again["killed"] if again else 0)
    if again:
      survivors = list(again["survivors"])
    counted = r["mutants"] - r["equivalent"] - newly_equivalent
    merged[module] = dict(r, killed=killed, survivors=survivors, equivalent=r["equivalent"] + newly_equivalent,
                          score=killed / counted if counted else float("nan"))
  return merged


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--modules", default="", help="comma-separated modules (dotted, under flatness_jax)")
  p.add_argument("--groups", default="", help=f"comma-separated groups: {', '.join(mutation_targets.GROUPS)}")
  p.add_argument("--max", type=int, default=0, help="at most this many mutants per module (an even spread)")
  p.add_argument("--out", default="", help="write the per-module results as JSON here")
  p.add_argument("--list", action="store_true", help="list the mutants and exit")
  p.add_argument("--rerun", default="", help="a JSON file of an earlier --out: run only its survivors")
  args = p.parse_args(argv)
  modules = [m for m in args.modules.split(",") if m]
  only = None
  if args.rerun:
    try:
      earlier = json.load(open(args.rerun))
      only = {k for r in earlier.values() for k in r["survivors"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
      p.error(f"--rerun={args.rerun}: not a report of tools/mutate.py --out ({type(e).__name__}: {e})")
    modules += [m for m in earlier if m not in modules and earlier[m]["survivors"]]
  for g in [g for g in args.groups.split(",") if g]:
    if g not in mutation_targets.GROUPS:
      p.error(f"unknown group {g!r}; known: {sorted(mutation_targets.GROUPS)}")
    modules += mutation_targets.GROUPS[g]
  unknown = [m for m in modules if m not in mutation_targets.TARGETS]
  if unknown or not modules:
    p.error(f"modules {unknown or '(none)'} have no targets; known: {sorted(mutation_targets.TARGETS)}")
  if args.list:
    for m in modules:
      for mutant in sample(mutants_of(m), args.max or None):
        print(mutant.key)
    return 0
  report = run(modules, args.max or None, out=None if args.rerun else args.out or None, only=only)
  if args.rerun:
    report = merge(earlier, report)
    if args.out:
      with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    for module, r in report.items():
      print(f"== {module} after the rerun: {r['killed']}/{r['mutants'] - r['equivalent']} killed "
            f"({100 * r['score']:.0f}%), {r['equivalent']} equivalent")
  total_killed = sum(r["killed"] for r in report.values())
  total = sum(r["mutants"] - r["equivalent"] for r in report.values())
  print(f"total: {total_killed}/{total} killed ({100 * total_killed / max(total, 1):.0f}%)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
