"""The progress bar: in logs (not a terminal) it writes a line only when forced and once when complete."""
import io

from flatness_jax.jobs import progress


def test_log_output_is_forced_lines_and_the_completion():
  out = io.StringIO()
  bar = progress.ProgressBar(10, label="run", unit="steps", every_s=0.0, stream=out)
  for n in range(1, 10):
    bar.update(n, force=n == 5, loss=1.5)
  bar.update(10, loss=1.25)
  bar.update(10, force=True)  # nothing after completion
  bar.close()
  lines = out.getvalue().splitlines()
  assert len(lines) == 2, lines
  assert lines[0].startswith("run [") and "5/10 steps" in lines[0] and "loss=1.5" in lines[0]
  assert "10/10 steps" in lines[1] and "loss=1.25" in lines[1] and "eta" not in lines[1]
