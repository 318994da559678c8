"""The figure of the Theorem 4.3 check: Tr ∇²L against t = η² k, one panel per batch size B.

Each learning rate is a colour: the mean over SGD seeds of Tr ∇²L(θ_k) as a line with a band of ± one standard
deviation over seeds (the spread of single runs); the predicted flow dθ/dt = −(1/(4B)) P_T ∇Tr∇²L is the black line.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position


def trace_vs_t(result: dict):
  """The figure (a matplotlib Figure; the theory job saves it as PNG)."""
  batches = sorted({c["batch_size"] for c in result["cells"]})
  rates = sorted({c["learning_rate"] for c in result["cells"]}, reverse=True)
  colours = plt.cm.viridis(np.linspace(0.0, 0.85, len(rates)))
  fig, axes = plt.subplots(1, len(batches), figsize=(4.2 * len(batches), 3.6), squeeze=False)
  for ax, b in zip(axes[0], batches):
    for colour, eta in zip(colours, rates):
      cell = next(c for c in result["cells"] if c["batch_size"] == b and c["learning_rate"] == eta)
      t, tr = np.asarray(cell["t"]), np.asarray(cell["trace"])
      mean, sd = tr.mean(axis=0), tr.std(axis=0, ddof=1)
      ax.plot(t, mean, color=colour, lw=1.2, label=f"SGD η={eta:g}")
      ax.fill_between(t, mean - sd, mean + sd, color=colour, alpha=0.2, lw=0)
    curve = result["flow_curves"][str(b)]
    ax.plot(curve["t"], curve["trace"], color="black", lw=1.6, ls="--", label="flow −∇_Γ Tr∇²L / (4B)")
    ax.set_title(f"B = {b}  ({result['settings']['num_seeds']} seeds, band ± 1 sd)", fontsize=9)
    ax.set_xlabel("t = η² · steps")
    ax.set_ylabel("Tr ∇²L")
  axes[0][0].legend(fontsize=7)
  fig.tight_layout()
  return fig
