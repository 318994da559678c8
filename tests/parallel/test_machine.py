"""The machine a record names (flatness_jax.parallel.machine): its identity, the reference program's time, and which
records are expected to share their bits."""
import ast
import inspect
import math

from flatness_jax.parallel import machine


def test_identity_names_the_processor_cores_and_jax_build():
  m = machine.identity()
  assert set(m) == {"processor", "cores", "backend", "jax", "jaxlib"}
  assert m["processor"] and m["processor"] != "unknown" and m["cores"] >= 1 and m["backend"] == "cpu"


def test_the_reference_time_is_measured_and_described():
  m = machine.measure(rounds=2)
  assert math.isfinite(m["reference_ms"]) and m["reference_ms"] > 0
  assert m["reference"] == machine.REFERENCE and f"version {machine.REFERENCE_VERSION}" in m["reference"]
  line = machine.describe(m)
  assert line.startswith(m["processor"]) and f"reference {m['reference_ms']:.0f} ms" in line


def test_the_reference_program_depends_on_no_project_code():
  """A change of the training code must leave the reference as it is: the module imports nothing of flatness_jax."""
  tree = ast.parse(inspect.getsource(machine))
  names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
  names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
  assert names and not [n for n in names if n.startswith("flatness")]


def test_bits_are_expected_equal_only_on_the_same_processor_and_jax_build():
  here = machine.identity()
  assert machine.same_bits_expected(here, dict(here))
  assert not machine.same_bits_expected(here, {**here, "processor": here["processor"] + " v2"})
  assert not machine.same_bits_expected(here, {**here, "jaxlib": "0.0.1"})


def test_a_machine_seen_again_updates_its_entry_and_another_is_added():
  here = machine.identity()
  other = {**here, "processor": "Other CPU"}
  listed = machine.merged([], here)
  assert listed == [here]
  listed = machine.merged(listed, {**here, "reference_ms": 180.0})
  assert listed == [{**here, "reference_ms": 180.0}]
  listed = machine.merged(listed, other)
  assert listed == [{**here, "reference_ms": 180.0}, other]
  assert machine.merged(listed, here) == listed  # identity alone keeps the measured reference
