"""Every python snippet of README.md runs (the flax and equinox ones where those are installed)."""
import os
import re
import warnings

import pytest

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def _snippets():
  with open(README, encoding="utf-8") as f:
    return re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)


def test_readme_has_a_snippet_per_model_style():
  imports = [" ".join(re.findall(r"^(?:import|from) (\S+)", s, flags=re.M)) for s in _snippets()]
  assert len(imports) == 4 and "flax.linen" in imports[1] and "flax" in imports[2] and "equinox" in imports[3]


@pytest.mark.parametrize("index", range(4), ids=["jax", "linen", "nnx", "equinox"])
def test_readme_snippet_runs(index, capsys):
  code = _snippets()[index]
  for module in ("flax", "equinox"):
    if re.search(rf"^(import|from) {module}\b", code, flags=re.M):
      pytest.importorskip(module)
  namespace = {}
  with warnings.catch_warnings():
    warnings.simplefilter("error")                                     # no ConvergenceWarning in our own example
    exec(compile(code, f"{README} snippet {index}", "exec"), namespace)  # pylint: disable=exec-used
  if index == 0:
    tr = namespace["tr"]
    assert bool(tr.converged) and float(tr.stderr) <= 0.05 * abs(float(tr.value))
    assert "Tr H =" in capsys.readouterr().out
