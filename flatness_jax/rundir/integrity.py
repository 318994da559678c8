"""Checksums of what a run directory records, so that silent corruption is reported, naming the file.

Records. Every JSON record written through flatness_jax.rundir.jsonio, heldout_losses.npz, and metrics.jsonl as it
grows have their SHA-256 and length in the directory's `.checksums.json` ({name: {"sha256", "bytes"}}), updated
atomically after each write. A file is checked against its entry when it is read: it must have `bytes` bytes that
hash to `sha256`; an append-only file (metrics.jsonl) may have a longer tail (rows appended after the last update,
by a writer killed between the two writes, which the line parser checks instead). A file with no entry (written
before checksums existed, or by hand) is read unchecked.

Checkpoints. Once Orbax has renamed a complete checkpoint into place, `checkpoints/<step>/checksums.json` lists the
SHA-256 of every file of the step's directory (`write_tree`); `verify_tree` says whether the files still match.
A checkpoint without the list (one written before checksums existed, or killed between the rename and the list)
is 'unverified': whether it is readable is found by restoring it.
"""
import hashlib
import json
import os
import tempfile

MANIFEST = ".checksums.json"        # per directory of records
TREE_MANIFEST = "checksums.json"    # per checkpoint step directory
_CHUNK = 1 << 20


class CorruptFileError(ValueError):
  """A record or checkpoint file that does not match its checksum, or that cannot be parsed; names the file."""


def write_atomic(path: str, write, suffix: str, mode: str = "w") -> None:
  """write(file object) into a temporary file beside `path`, then os.replace onto it (never a half-written file)."""
  d = os.path.dirname(os.path.abspath(path))
  tmp = None
  try:
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp_", suffix=suffix)
    with os.fdopen(fd, mode) as f:
      write(f)
    os.replace(tmp, path)
  except BaseException as e:
    if tmp and os.path.exists(tmp):
      os.remove(tmp)
    if isinstance(e, OSError) and e.errno:  # name the file being written, not its temporary
      raise OSError(e.errno, e.strerror, path) from e
    raise


def remove_temporaries(directory: str) -> list[str]:
  """Removes the temporary files `write_atomic` left in `directory` and its subdirectories when a writer was killed
  between writing and renaming (names '.tmp_*': never a record); returns their paths. Only the directory's writer
  may call it."""
  removed = []
  for root, _, files in os.walk(directory):
    for name in files:
      if name.startswith(".tmp_"):
        os.remove(os.path.join(root, name))
        removed.append(os.path.join(root, name))
  return removed


def sha256(path: str, size: int | None = None) -> str:
  """SHA-256 (hex) of the file at `path`, or of its first `size` bytes."""
  h = hashlib.sha256()
  left = size if size is not None else float("inf")
  with open(path, "rb") as f:
    while left > 0:
      block = f.read(int(min(_CHUNK, left)))
      if not block:
        break
      h.update(block)
      left -= len(block)
  return h.hexdigest()


def _manifest_path(path: str) -> str:
  return os.path.join(os.path.dirname(os.path.abspath(path)), MANIFEST)


def _read_manifest(manifest: str) -> dict:
  try:
    with open(manifest) as f:
      entries = json.load(f)
  except FileNotFoundError:
    return {}
  except ValueError:
    raise CorruptFileError(f"{manifest} is not valid JSON; the checksums of its directory cannot be checked (move "
                           "it aside to read the records unchecked)") from None
  return entries if isinstance(entries, dict) else {}


def record(path: str, size: int | None = None, digest: str | None = None, append: bool = False) -> None:
  """Enters `path`'s SHA-256 and length (or the given prefix `size` and its `digest` of an `append`-only file) in
  its directory's manifest."""
  size = os.path.getsize(path) if size is None else size
  digest = digest or sha256(path, size)
  manifest = _manifest_path(path)
  entries = _read_manifest(manifest)
  entries[os.path.basename(path)] = {"sha256": digest, "bytes": int(size), **({"append": True} if append else {})}
  write_atomic(manifest, lambda f: json.dump(entries, f, indent=1, sort_keys=True), ".json")


def forget(path: str) -> None:
  """Removes `path`'s entry from its directory's manifest (the file was moved aside)."""
  manifest = _manifest_path(path)
  entries = _read_manifest(manifest)
  if entries.pop(os.path.basename(path), None) is not None:
    write_atomic(manifest, lambda f: json.dump(entries, f, indent=1, sort_keys=True), ".json")


def move_aside(path: str) -> str:
  """Renames the record `path` (DIR/STEM.EXT) to the first free DIR/STEM.corrupt_<k>.EXT, never overwriting or
  deleting anything, and forgets its checksum; returns the new path."""
  stem, ext = os.path.splitext(path)
  k = 0
  while os.path.exists(dst := f"{stem}.corrupt_{k}{ext}"):
    k += 1
  os.rename(path, dst)
  forget(path)
  return dst


def moved_aside_records(directory: str) -> list[str]:
  """Names of the records `move_aside` moved aside in `directory` (STEM.corrupt_<k>.EXT), sorted."""
  return sorted(n for n in os.listdir(directory) if ".corrupt_" in n) if os.path.isdir(directory) else []


def verify(path: str) -> bool:
  """Checks `path` against its manifest entry: True when it matches, False when it has none; CorruptFileError naming
  the file when it is shorter than recorded or its recorded bytes differ."""
  entry = _read_manifest(_manifest_path(path)).get(os.path.basename(path))
  if entry is None or not os.path.exists(path):
    return False
  size = os.path.getsize(path)
  if size < entry["bytes"] or (size > entry["bytes"] and not entry.get("append")):
    raise CorruptFileError(f"{path} is corrupt: {size:,} bytes where {entry['bytes']:,} were written")
  if sha256(path, entry["bytes"]) != entry["sha256"]:
    raise CorruptFileError(f"{path} is corrupt: its bytes changed since they were written (checksum in "
                           f"{MANIFEST})")
  return True


def _tree_files(directory: str) -> list[str]:
  out = []
  for root, _, files in os.walk(directory):
    out.extend(os.path.relpath(os.path.join(root, f), directory) for f in files)
  return sorted(f for f in out if f != TREE_MANIFEST)


def write_tree(directory: str, **extra) -> None:
  """Writes `directory/checksums.json`: the SHA-256 of every file below `directory`, and `extra` fields."""
  files = {f: sha256(os.path.join(directory, f)) for f in _tree_files(directory)}
  write_atomic(os.path.join(directory, TREE_MANIFEST),
               lambda f: json.dump({"files": files, **extra}, f, indent=1, sort_keys=True), ".json")


def read_tree(directory: str):
  """The checksum list of `directory` ({'files': {...}, ...}), or None when it has none."""
  try:
    with open(os.path.join(directory, TREE_MANIFEST)) as f:
      doc = json.load(f)
  except FileNotFoundError:
    return None
  except (ValueError, UnicodeDecodeError):
    return {"damaged": True}
  return doc if isinstance(doc, dict) and isinstance(doc.get("files"), dict) else {"damaged": True}


def verify_tree(directory: str):
  """('verified', '') when every file below `directory` matches its checksum list, ('unverified', '') when there is
  no list, ('corrupt', what) naming the first file that is missing, extra, or changed."""
  doc = read_tree(directory)
  if doc is None:
    return "unverified", ""
  if doc.get("damaged"):
    return "corrupt", f"{os.path.join(directory, TREE_MANIFEST)} is damaged"
  listed, present = doc["files"], set(_tree_files(directory))
  for name in sorted(set(listed) & present):
    if sha256(os.path.join(directory, name)) != listed[name]:
      return "corrupt", f"{os.path.join(directory, name)} does not match its checksum"
  for name in sorted(set(listed) - present):
    return "corrupt", f"{os.path.join(directory, name)} is missing (it was written with the checkpoint)"
  for name in sorted(present - set(listed)):
    return "corrupt", f"{os.path.join(directory, name)} was not part of the checkpoint when it was written"
  return "verified", ""
