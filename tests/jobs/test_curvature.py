"""The curvature job's settings per experiment: with `curvature.only_if_correlatable` an experiment with fewer runs
than a correlation needs measures no sharpness and no probe-loss Tr(H), which the report uses only in correlations."""
import pytest

from experiments.configs import model_size, quickstart
from flatness_jax.analysis import gates
from flatness_jax.jobs import curvature as curvature_job
from flatness_jax.jobs import pipeline


def test_one_seed_per_size_measures_nothing_only_a_correlation_uses():
  config = quickstart.get_config()  # two sizes, one seed each: 2 runs
  assert config.curvature.only_if_correlatable and config.curvature.sharpness and config.curvature.tasks == "A"
  out, note = curvature_job.correlatable_measures(config)
  assert (out.curvature.sharpness, out.curvature.tasks) == ("", "")
  assert note == (f"curvature: 2 runs, fewer than the {gates.MIN_CLUSTERS} a correlation over runs needs: no "
                  "sharpness measures and no probe-loss Tr(H) (curvature.only_if_correlatable; 3 seeds per arm "
                  "measure them)")
  assert config.curvature.sharpness and config.curvature.tasks == "A"  # the caller's config is left as it was
  assert out.arms.to_dict() == config.arms.to_dict() and out.seeds == config.seeds


def test_enough_runs_measure_what_the_config_names():
  config = quickstart.get_config()
  config.seeds = 3  # as --config.seeds=3 sets it, after get_config: 6 runs
  out, note = curvature_job.correlatable_measures(config)
  assert out is config and note is None


@pytest.mark.parametrize("seeds", [1, 3])
def test_experiments_without_the_switch_measure_what_they_name(seeds):
  config = model_size.get_config()
  config.seeds = seeds
  out, note = curvature_job.correlatable_measures(config)
  assert out is config and note is None


def test_the_pipeline_records_what_it_measures(tmp_path, monkeypatch):
  """The pipeline applies it before any stage: the runs' recorded configs say what was measured."""
  config = quickstart.get_config("tiny")
  config.stages = "train"
  seen = []
  monkeypatch.setattr(pipeline, "_run", lambda c, *a: seen.append(c))
  pipeline.run_quickstart(config, str(tmp_path))
  assert [(c.curvature.sharpness, c.curvature.tasks) for c in seen] == [("", "")]


@pytest.mark.parametrize("lang", ["pcfg", "hmm", "released", "lm"])
def test_continued_training_measures_only_what_its_runs_can_correlate(lang):
  """Continued training: one arm × 3 seeds is 3 runs, fewer than a correlation over runs needs, so the sharpness
  measures and the probe loss's Tr(H) are not measured; at 6 seeds they are."""
  from experiments.configs import continued
  config = continued.get_config(lang)
  assert config.seeds == 3 and config.curvature.sharpness and config.curvature.tasks
  out, note = curvature_job.correlatable_measures(config)
  assert (out.curvature.sharpness, out.curvature.tasks) == ("", "")
  assert note.startswith("curvature: 3 runs, fewer than the ") and note.endswith(f"{gates.MIN_CLUSTERS} seeds per arm "
                                                                                    "measure them)")
  config.seeds = gates.MIN_CLUSTERS
  assert curvature_job.correlatable_measures(config) == (config, None)
