"""The one-line progress bar every job draws on stderr (process 0 only).

    label [#########---------------------] 1200/2600 steps  41s  eta 48s  loss=1.73 gap%=2.1

On a terminal the line is redrawn in place at most every `every_s` seconds; elsewhere (logs, CI) a plain line is
written only when forced and when the bar completes, so logs stay short.
"""
import sys
import time

from flatness_jax.rundir.jsonio import is_writer


class ProgressBar:
  """Progress of `total` units from `start`, with free-form fields (floats printed with 4 significant digits)."""

  def __init__(self, total: int, start: int = 0, label: str = "", unit: str = "", every_s: float = 0.5,
               stream=None):
    self.total, self.start, self.label, self.unit, self.every_s = total, start, label, unit, every_s
    self.stream = stream or sys.stderr
    self.tty = self.stream.isatty()
    self.t0 = time.time()
    self._last = 0.0
    self._done = False
    self.update(start)

  def line(self, n: int, **fields) -> str:
    """The text of the bar at `n` units done."""
    frac = n / max(self.total, 1)
    bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
    elapsed = time.time() - self.t0
    rate = (n - self.start) / elapsed if elapsed > 0 else 0.0
    eta = f"eta {(self.total - n) / rate:.0f}s" if rate > 0 and n < self.total else ""
    text = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items())
    unit = f" {self.unit}" if self.unit else ""
    return " ".join(x for x in (f"{self.label} [{bar}] {n}/{self.total}{unit}", f"{elapsed:.0f}s", eta, text) if x)

  def update(self, n: int, force: bool = False, **fields) -> None:
    now = time.time()
    complete = n >= self.total
    if not is_writer() or self._done or (not force and not complete and now - self._last < self.every_s):
      return
    self._last = now
    text = self.line(n, **fields)
    if self.tty:
      self.stream.write("\r" + text[:200].ljust(120) + ("\n" if complete else ""))
    elif force or complete:
      self.stream.write(text + "\n")
    self._done = complete
    self.stream.flush()

  def close(self) -> None:
    """Ends the line on a terminal if the bar did not complete."""
    if self.tty and is_writer() and not self._done:
      self.stream.write("\n")
      self.stream.flush()
    self._done = True
