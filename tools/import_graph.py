"""The import structure of flatness_jax, checked: layers, cycles, and where side effects may live.

Every `import` statement of every module under flatness_jax/ counts, also those inside functions. Checks:
  * file cycles: strongly connected components of more than one module;
  * package cycles: the subpackages (data, models, rundir, ...) must form a DAG;
  * upward imports: a module may import its own package, packages of a lower layer, or packages of its own layer
    (without a cycle), never a higher layer; every subpackage must have a layer in LAYERS, and no module may sit
    directly in flatness_jax/ (it would have no layer);
  * side effects: below the jobs layer nothing prints, and only rundir (the run-directory I/O library) writes
    files; only jobs take the writer lock or call rundir's writers (`print(...)`, `open(..., 'w'|'a'|'x')`,
    `savefig`, `np.save*`, `os.replace`, `writer_lock`, `write_json_atomic`, ... are looked for by name).

Usage: python tools/import_graph.py [ROOT] [--graph]   (exit 1 on any finding; --graph prints the package edges)
"""
import ast
import os
import sys

PACKAGE = "flatness_jax"
# Lower layers never import higher ones (the README's order). curvature is the flatness_curvature re-export.
LAYERS = {
    "tokens": 0, "curvature": 0,
    "decoder": 1,
    "data": 2, "models": 2,
    "rundir": 3,
    "parallel": 4,
    "train": 5,
    "eval": 6, "analysis": 6, "theory": 6,
    "jobs": 7,
}
MAY_WRITE = ("rundir", "jobs")       # packages whose modules may write files
MAY_PRINT = ("jobs",)                # packages whose modules may print
WRITER_NAMES = ("writer_lock", "write_json_atomic", "write_text_atomic", "MetricWriter")  # jobs only
# Calls that write: module.function for these modules, or these methods on anything.
WRITE_FUNCTIONS = {"os": ("replace", "rename", "makedirs", "mkdir", "remove", "unlink", "rmdir"),
                   "shutil": ("rmtree", "move", "copy", "copyfile", "copytree"),
                   "np": ("save", "savez", "savez_compressed", "savetxt"), "json": ("dump",)}
WRITE_METHODS = ("savefig", "write_text", "write_bytes")
PRAGMA = "# writes:"  # a line that writes outside rundir/jobs on purpose says why (e.g. a per-user download cache)


def module_files(root: str) -> dict:
  """{module name: path} of every .py file under ROOT/flatness_jax."""
  out = {}
  for d, _, names in os.walk(os.path.join(root, PACKAGE)):
    for f in names:
      if f.endswith(".py"):
        path = os.path.join(d, f)
        mod = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
        out[mod.removesuffix(".__init__")] = path
  return out


def _imported_names(node, module: str, is_package: bool) -> list[str]:
  if isinstance(node, ast.Import):
    return [a.name for a in node.names]
  if isinstance(node, ast.ImportFrom):
    base = module if is_package else module.rpartition(".")[0]
    for _ in range(max(node.level - 1, 0)):
      base = base.rpartition(".")[0]
    mod = node.module or ""
    if node.level:
      mod = f"{base}.{mod}" if mod else base
    return [mod] + [f"{mod}.{a.name}" for a in node.names]
  return []


def import_edges(files: dict) -> dict:
  """{module: set of flatness_jax modules it imports} (a name is resolved to the longest existing module)."""
  def resolve(name):
    while name and name not in files:
      name = name.rpartition(".")[0]
    return name or None
  edges = {m: set() for m in files}
  for m, path in files.items():
    is_package = path.endswith("__init__.py")
    for node in ast.walk(ast.parse(open(path).read(), path)):
      for name in _imported_names(node, m, is_package):
        if name.split(".")[0] == PACKAGE:
          target = resolve(name)
          if target and target != m and not (is_package and target.startswith(m + ".")):
            edges[m].add(target)
  return edges


def strongly_connected(edges: dict) -> list[list[str]]:
  """Components of more than one node (iterative Tarjan)."""
  index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
  for start in edges:
    if start in index:
      continue
    work = [(start, iter(sorted(edges[start])))]
    index[start] = low[start] = counter[0]; counter[0] += 1; stack.append(start); on.add(start)
    while work:
      v, it = work[-1]
      w = next(it, None)
      if w is not None:
        if w not in index:
          index[w] = low[w] = counter[0]; counter[0] += 1; stack.append(w); on.add(w)
          work.append((w, iter(sorted(edges.get(w, ())))))
        elif w in on:
          low[v] = min(low[v], index[w])
        continue
      work.pop()
      if work:
        low[work[-1][0]] = min(low[work[-1][0]], low[v])
      if low[v] == index[v]:
        comp = []
        while True:
          w = stack.pop(); on.discard(w); comp.append(w)
          if w == v:
            break
        if len(comp) > 1:
          out.append(sorted(comp))
  return sorted(out)


def package_of(module: str):
  parts = module.split(".")
  return parts[1] if len(parts) > 1 else None


def package_edges(edges: dict) -> dict:
  out = {}
  for a, targets in edges.items():
    for b in targets:
      pa, pb = package_of(a), package_of(b)
      if pa and pb and pa != pb:
        out.setdefault(pa, set()).add(pb)
  return out


def _call_name(node) -> str:
  f = node.func
  return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _writes(node) -> bool:
  """open(..., mode) with a writing mode, or a call of a known file-writing function."""
  name = _call_name(node)
  if name == "open":
    modes = [a for a in node.args[1:2]] + [k.value for k in node.keywords if k.arg == "mode"]
    return any(isinstance(m, ast.Constant) and isinstance(m.value, str) and set(m.value) & set("wax")
               for m in modes)
  f = node.func
  if not isinstance(f, ast.Attribute):
    return False
  if f.attr in WRITE_METHODS:
    return True
  return isinstance(f.value, ast.Name) and f.attr in WRITE_FUNCTIONS.get(f.value.id, ())


def side_effects(files: dict) -> list[str]:
  """'module:line what' for every print, file write or writer call outside the packages allowed to make it."""
  found = []
  for m, path in sorted(files.items()):
    pkg = package_of(m)
    text = open(path).read()
    lines = text.splitlines()
    for node in ast.walk(ast.parse(text, path)):
      if isinstance(node, ast.Call) and PRAGMA in lines[node.lineno - 1]:
        continue
      if isinstance(node, ast.Call):
        name = _call_name(node)
        if name == "print" and pkg not in MAY_PRINT:
          found.append(f"{m}:{node.lineno} prints")
        elif _writes(node) and pkg not in MAY_WRITE:
          found.append(f"{m}:{node.lineno} writes ({name})")
        elif name in WRITER_NAMES and pkg != "jobs" and pkg != "rundir":
          found.append(f"{m}:{node.lineno} calls {name} (jobs only)")
      elif isinstance(node, ast.ImportFrom) and pkg not in ("jobs", "rundir"):
        bad = [a.name for a in node.names if a.name in WRITER_NAMES or a.name == "lock"]
        if bad and (node.module or "").startswith(f"{PACKAGE}.rundir"):
          found.append(f"{m}:{node.lineno} imports {', '.join(bad)} (jobs only)")
  return found


def check(root: str) -> dict:
  """Every finding of the module docstring, by kind (empty lists when the structure is sound)."""
  files = module_files(root)
  edges = import_edges(files)
  pedges = package_edges(edges)
  packages = sorted(m.split(".")[1] for m, path in files.items()
                    if m.count(".") == 1 and path.endswith("__init__.py"))
  unlayered = [p for p in packages if p not in LAYERS]
  loose = sorted(m for m, path in files.items() if m.count(".") == 1 and not path.endswith("__init__.py"))
  upward = sorted(f"{a} -> {b}" for a in edges for b in edges[a]
                  if package_of(a) in LAYERS and package_of(b) in LAYERS
                  and LAYERS[package_of(b)] > LAYERS[package_of(a)])
  return {"file cycles": strongly_connected(edges),
          "package cycles": strongly_connected({p: pedges.get(p, set()) for p in packages}),
          "upward imports": upward,
          "packages without a layer": unlayered + loose,
          "side effects below jobs": side_effects(files),
          "_modules": len(files), "_package_edges": {p: sorted(v) for p, v in sorted(pedges.items())}}


def main(argv) -> int:
  args = [a for a in argv[1:] if not a.startswith("--")]
  root = args[0] if args else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  result = check(root)
  problems = {k: v for k, v in result.items() if not k.startswith("_") and v}
  print(f"{result['_modules']} modules; " + "; ".join(f"{k}: {len(v) if v else 'none'}" for k, v in result.items()
                                                      if not k.startswith("_")))
  for kind, items in problems.items():
    print(f"{kind}:")
    for item in items:
      print(f"  {item}")
  if "--graph" in argv:
    for layer in sorted(set(LAYERS.values())):
      for p in sorted(k for k, v in LAYERS.items() if v == layer):
        print(f"  [{layer}] {p} -> {', '.join(result['_package_edges'].get(p, [])) or '(nothing of ours)'}")
  return 1 if problems else 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
