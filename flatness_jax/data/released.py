"""The authors' released grammar (Liu, Xie, Li, Ma 2023: `pcfg/rule_deep_mlm.txt` of their public repository),
found, checksum-verified and cached per user, as tensorflow-datasets caches its datasets.

`grammar_path(path)` returns a verified local copy of the file, looking in this order:
  1. `path` (the config's data.grammar_path), when given;
  2. the file named by the environment variable FLATNESS_RELEASED_GRAMMAR, when set;
  3. the per-user cache, $FLATNESS_DATA_CACHE or $XDG_CACHE_HOME/flatness_jax/data (default
     ~/.cache/flatness_jax/data), under implicitbiasmlmcode-<commit>/rule_deep_mlm.txt;
  4. a download of URL (the file at commit COMMIT) into that cache, unless FLATNESS_OFFLINE=1.
Every copy, wherever it comes from, must have SHA256 and SIZE; a file that does not is named and refused, never
used, and nothing is written to the cache unless its bytes match (written to a temporary file, then renamed). When
the file cannot be had (offline, a failed download, a wrong copy), `ReleasedGrammarError` says in one line what to
download, its checksum, where to put it, and which flag or variable names a local copy.
"""
import hashlib
import os
import tempfile
import urllib.error
import urllib.request

REPOSITORY = "github.com/Liuhong99/implicitbiasmlmcode"
COMMIT = "eaf4a886268c4a4855327790b425ca8be480a3e4"
FILE = "pcfg/rule_deep_mlm.txt"
URL = f"https://raw.githubusercontent.com/Liuhong99/implicitbiasmlmcode/{COMMIT}/{FILE}"
SHA256 = "95b4248f0712a1726289214d4bcd171fc4a8d8f9e98e7948471ae76bdc561b21"
SIZE = 56_295
PATH_ENV = "FLATNESS_RELEASED_GRAMMAR"  # a local copy of the file
CACHE_ENV = "FLATNESS_DATA_CACHE"       # the cache directory
OFFLINE_ENV = "FLATNESS_OFFLINE"        # '1': never download
FLAG = "--config.data.grammar_path=PATH"
TIMEOUT_SECONDS = 30


class ReleasedGrammarError(FileNotFoundError):
  """The released grammar cannot be had, or a copy of it is not the authors' file; the message is one line, and
  all of it is needed (where to download, the checksum, where to put the file): `whole_line` asks the entry point
  not to cut it."""
  whole_line = True


def cache_dir() -> str:
  """The per-user data cache (module docstring)."""
  if os.environ.get(CACHE_ENV):
    return os.path.abspath(os.path.expanduser(os.environ[CACHE_ENV]))
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "flatness_jax", "data")


def cache_path() -> str:
  """Where the verified download lives in the cache."""
  return os.path.join(cache_dir(), f"implicitbiasmlmcode-{COMMIT[:12]}", os.path.basename(FILE))


def _how_to_provide() -> str:
  return (f"download {URL} (sha256 {SHA256}, {SIZE:,} bytes) to {cache_path()}, or name a copy with {FLAG} "
          f"or {PATH_ENV}=PATH")


def digest(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()


def _read_verified(path: str, source: str) -> str:
  """`path` if it holds the authors' bytes; ReleasedGrammarError naming it (and `source`) otherwise."""
  if not os.path.isfile(path):
    raise ReleasedGrammarError(f"the released grammar named by {source} is not a file: {path}; "
                               + _how_to_provide())
  with open(path, "rb") as f:
    data = f.read(SIZE + 1)
  if len(data) != SIZE or digest(data) != SHA256:
    got = f"{len(data):,} bytes" if len(data) <= SIZE else f"more than {SIZE:,} bytes"
    raise ReleasedGrammarError(
        f"{path} (from {source}) is not the authors' released grammar: {got}, sha256 {digest(data)[:16]}…, expected "
        f"sha256 {SHA256} ({SIZE:,} bytes); to load another grammar in the authors' format set "
        f"data.preset='file'; else " + _how_to_provide())
  return path


def cached_copy():
  """The verified cached copy's path, or None when the cache does not hold it (never downloads)."""
  path = cache_path()
  return _read_verified(path, "the cache") if os.path.exists(path) else None


def _download(opener) -> bytes:
  """The file's bytes from URL, verified; ReleasedGrammarError in one line when it cannot be fetched or differs."""
  try:
    with opener(URL, timeout=TIMEOUT_SECONDS) as response:
      data = response.read(SIZE + 1)
  except (urllib.error.URLError, OSError, ValueError) as e:
    reason = getattr(e, "reason", None) or e
    raise ReleasedGrammarError(f"the authors' released grammar is not cached and could not be downloaded "
                               f"({type(e).__name__}: {reason}); " + _how_to_provide()) from None
  if len(data) != SIZE or digest(data) != SHA256:
    raise ReleasedGrammarError(f"the download of {URL} gave {len(data):,} bytes with sha256 {digest(data)[:16]}…, "
                               f"not the expected {SHA256}; nothing was saved; " + _how_to_provide())
  return data


def _save(data: bytes) -> str:
  """Writes verified bytes into the cache atomically (a temporary file in the same directory, then a rename)."""
  path = cache_path()
  os.makedirs(os.path.dirname(path), exist_ok=True)  # writes: the per-user download cache
  fd, tmp = tempfile.mkstemp(prefix=".download-", dir=os.path.dirname(path))
  with os.fdopen(fd, "wb") as f:
    f.write(data)
  os.replace(tmp, path)  # writes: the per-user download cache (only bytes whose checksum matched)
  return path


def grammar_path(path: str = "", opener=None) -> str:
  """A verified local copy of the released grammar (module docstring); `opener` replaces urllib's urlopen."""
  if path:
    return _read_verified(os.path.abspath(os.path.expanduser(path)), "data.grammar_path")
  if os.environ.get(PATH_ENV):
    return _read_verified(os.path.abspath(os.path.expanduser(os.environ[PATH_ENV])), PATH_ENV)
  cached = cached_copy()
  if cached:
    return cached
  if os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes"):
    raise ReleasedGrammarError(f"the authors' released grammar is not cached and {OFFLINE_ENV} is set; "
                               + _how_to_provide())
  return _save(_download(opener or urllib.request.urlopen))
