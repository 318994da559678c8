"""The run directory, the unit of record: its files, its one writer, and reading it back.

Below everything that writes or reads runs (data cards, training, curvature, probes, reports):
  * `jsonio`: JSON written atomically, metrics.jsonl read back past a torn last line, process 0 as the writer;
  * `integrity`: checksums of every record and checkpoint written, checked when read (a mismatch names the file);
  * `lock`: an exclusive lock held by the one process that writes a run directory;
  * `progress`: the one-line terminal progress bar of every job;
  * `fields`: comma-separated config fields as lists;
  * `rundir`: `RunDir`, a run directory read back (config, language, model, metrics, checkpointed parameters,
    step selection).
"""
