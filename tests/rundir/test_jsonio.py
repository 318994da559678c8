"""flatness_jax.rundir.jsonio's figure writer (and results/' through flatness_jax.rundir.compact): a figure laid
out by tight_layout() is drawn once when saved, and its PNG is the one savefig writes by itself."""
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.figure  # pylint: disable=g-import-not-at-top,wrong-import-position
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position

from flatness_jax.rundir import compact, jsonio  # pylint: disable=g-import-not-at-top,wrong-import-position


def _figure():
  fig, ax = plt.subplots(figsize=(3, 2))
  ax.plot([0, 1, 2], [1, 0, 2], label="a curve")
  ax.set_xlabel("steps")
  ax.legend()
  fig.tight_layout()
  return fig


def test_a_tight_figure_is_drawn_once_and_saved_with_the_same_pixels(tmp_path, monkeypatch):
  expected = io.BytesIO()
  _figure().savefig(expected, dpi=50, format="png", metadata={"Software": None})
  draws = []
  draw = matplotlib.figure.Figure.draw
  monkeypatch.setattr(matplotlib.figure.Figure, "draw", lambda self, r: (draws.append(1), draw(self, r))[1])
  path = tmp_path / "f.png"
  compact.save_figure(_figure(), str(path), 50)
  assert len(draws) == 1
  assert path.read_bytes() == expected.getvalue()
  assert jsonio.save_figure(_figure(), str(tmp_path / "g.png"), 50, metadata={"Software": None}) == "g.png"
  assert len(draws) == 2 and (tmp_path / "g.png").read_bytes() == expected.getvalue()
