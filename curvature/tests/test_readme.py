"""The example in curvature/README.md runs, and its numbers are consistent."""
import os
import re

import jax.numpy as jnp

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def test_readme_example_runs(capsys):
  with open(README) as f:
    blocks = re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)
  assert len(blocks) == 1
  namespace = {}
  exec(compile(blocks[0], README, "exec"), namespace)  # pylint: disable=exec-used
  tr, tr_k, top = namespace["tr"], namespace["tr_k"], namespace["top"]
  assert float(tr.stderr) <= 0.05 * abs(float(tr.value))
  assert 0 < float(tr_k.value) and jnp.all(jnp.diff(top.eigenvalues) <= 0)
  assert "Tr H =" in capsys.readouterr().out
