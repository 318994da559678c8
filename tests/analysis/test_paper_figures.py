"""The paper's figures per language (flatness_jax.analysis.paper_figures): one point per arm at its seed mean with
±1 SE over seeds, one colour per arm, None where a figure has nothing to show."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from experiments.configs import algorithms, continued, model_size
from flatness_jax.analysis import figures, paper_figures
from tests.analysis import simulate


def _runs(config, seed):
  return simulate.runs(simulate.design(config), simulate.World(), np.random.default_rng(seed))


@pytest.fixture(scope="module")
def experiments():
  return {"continued": _runs(continued.get_config(), 0), "model_size": _runs(model_size.get_config(), 1),
          "algorithms": _runs(algorithms.get_config("adversarial"), 2)}


def _points(fig):
  """{colour: (x, y)} of the errorbar markers of a one-axes figure."""
  out = {}
  for line in fig.axes[0].lines:
    if line.get_marker() == "o":
      out[line.get_color() if isinstance(line.get_color(), str) else tuple(line.get_color())] = \
          (float(line.get_xdata()[0]), float(line.get_ydata()[0]))
  return out


def test_size_and_trace_figures_put_each_arm_at_its_seed_mean_in_its_colour(experiments):
  sizes = experiments["model_size"]
  colors = figures.arm_colors([r.arm for r in sizes] + [r.arm for r in experiments["algorithms"]])
  fig = paper_figures.size(sizes, "A", colors)
  pts = _points(fig)
  for arm in paper_figures.arms_of(sizes):
    accs = [100 * p.accuracy("A")[0] for p in arm.finals()]
    assert pts[tuple(colors[arm.name])] == pytest.approx((arm.num_params, np.mean(accs)))
  plt.close(fig)
  fig = paper_figures.trace([sizes, experiments["algorithms"]], "A", colors)
  assert len(_points(fig)) == 3 + 4  # xs, s, m and adamw, sgd, sam, adversarial
  plt.close(fig)


def test_continued_and_algorithms_figures_and_empty_inputs(experiments):
  colors = figures.arm_colors(["cpu_s", "adamw", "sgd", "sam", "adversarial"])
  fig = paper_figures.continued(experiments["continued"], "A", 0.03, colors)
  assert [ax.get_ylabel() for ax in fig.axes] == ["probe accuracy, task A (%)", "held-out gap (% of L*)"]
  plt.close(fig)
  fig = paper_figures.algorithms(experiments["algorithms"], "A", colors)
  assert len(_points(fig)) == 4
  plt.close(fig)
  assert paper_figures.size(experiments["continued"], "A", colors) is None  # one size: nothing to compare
  assert paper_figures.continued([], "A", 0.03, colors) is None
