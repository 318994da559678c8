"""The released grammar without a checkout beside this one: verified local copies (flag, environment variable,
cache), a download served from 127.0.0.1 (never the network), and one line when the file cannot be had.

The mechanics run on a stand-in payload (the module's checksum and size patched to it), so they need no copy of the
authors' file; one test checks the real constants against the local copy when there is one."""
import functools
import http.server
import os
import subprocess
import sys
import threading
import urllib.error

import pytest

from flatness_jax.data import make_language, released
from tests.conftest import REPO_ROOT

PAYLOAD = b"S A1_0 1.0\nA1_0 w0 0.5\nA1_0 w1 0.5\n"


@pytest.fixture
def stand_in(monkeypatch, tmp_path):
  """The module pointed at PAYLOAD's checksum and size, a private cache, no path variable, downloads allowed."""
  monkeypatch.setattr(released, "SHA256", released.digest(PAYLOAD))
  monkeypatch.setattr(released, "SIZE", len(PAYLOAD))
  monkeypatch.setenv(released.CACHE_ENV, str(tmp_path / "cache"))
  monkeypatch.delenv(released.PATH_ENV, raising=False)
  monkeypatch.delenv(released.OFFLINE_ENV, raising=False)
  return tmp_path


class _Handler(http.server.BaseHTTPRequestHandler):
  def do_GET(self):  # pylint: disable=invalid-name
    self.server.requests.append(self.path)
    self.send_response(200)
    self.send_header("Content-Length", str(len(self.server.body)))
    self.end_headers()
    self.wfile.write(self.server.body)

  def log_message(self, *args):
    pass


@pytest.fixture
def local_server(monkeypatch):
  """An HTTP server on 127.0.0.1 serving `server.body` at released.URL (patched to point at it)."""
  server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
  server.requests, server.body = [], PAYLOAD
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  monkeypatch.setattr(released, "URL", f"http://127.0.0.1:{server.server_port}/{released.FILE}")
  yield server
  server.shutdown()
  server.server_close()


def _one_line(exc_info):
  text = str(exc_info.value)
  assert "\n" not in text
  return text


def test_download_is_verified_cached_and_then_read_from_the_cache(stand_in, local_server):
  path = released.grammar_path()
  assert path == released.cache_path() and path.startswith(str(stand_in / "cache"))
  assert open(path, "rb").read() == PAYLOAD and local_server.requests == [f"/{released.FILE}"]
  assert released.grammar_path() == path and len(local_server.requests) == 1  # a cache hit: no second request
  assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]  # no temporary file left behind


def test_default_cache_is_per_user_under_xdg(monkeypatch, tmp_path):
  monkeypatch.delenv(released.CACHE_ENV, raising=False)
  monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
  assert released.cache_dir() == str(tmp_path / "flatness_jax" / "data")
  monkeypatch.delenv("XDG_CACHE_HOME")
  monkeypatch.setenv("HOME", str(tmp_path / "home"))
  assert released.cache_dir() == str(tmp_path / "home" / ".cache" / "flatness_jax" / "data")


def test_wrong_download_is_refused_and_nothing_is_saved(stand_in, local_server):
  local_server.body = PAYLOAD.replace(b"0.5", b"0.4")
  with pytest.raises(released.ReleasedGrammarError) as e:
    released.grammar_path()
  line = _one_line(e)
  assert "nothing was saved" in line and released.SHA256 in line and released.URL in line, line
  assert not os.path.exists(os.path.dirname(released.cache_path())) or \
      os.listdir(os.path.dirname(released.cache_path())) == []


def test_offline_says_what_to_download_and_where_to_put_it(stand_in):
  def unreachable(url, timeout):
    raise urllib.error.URLError("Temporary failure in name resolution")
  with pytest.raises(released.ReleasedGrammarError) as e:
    released.grammar_path(opener=unreachable)
  line = _one_line(e)
  for part in (released.URL, released.SHA256, f"{len(PAYLOAD):,} bytes", released.cache_path(),
               "--config.data.grammar_path=PATH", f"{released.PATH_ENV}=PATH", "name resolution"):
    assert part in line, (part, line)


def test_offline_variable_never_downloads(stand_in, monkeypatch):
  monkeypatch.setenv(released.OFFLINE_ENV, "1")
  opener = functools.partial(pytest.fail, "downloaded although FLATNESS_OFFLINE=1")
  with pytest.raises(released.ReleasedGrammarError, match="FLATNESS_OFFLINE is set; download http"):
    released.grammar_path(opener=opener)


@pytest.mark.parametrize("how", ["flag", "env"])
def test_local_copy_is_used_and_verified(stand_in, monkeypatch, how):
  good, bad = stand_in / "good.txt", stand_in / "bad.txt"
  good.write_bytes(PAYLOAD)
  bad.write_bytes(PAYLOAD + b"A1_0 w2 0.0\n")
  refuse = functools.partial(pytest.fail, "downloaded although a local copy was named")

  def resolve(path):
    if how == "flag":
      return released.grammar_path(str(path), opener=refuse)
    monkeypatch.setenv(released.PATH_ENV, str(path))
    return released.grammar_path(opener=refuse)

  assert resolve(good) == str(good)
  with pytest.raises(released.ReleasedGrammarError) as e:
    resolve(bad)
  line = _one_line(e)
  source = "data.grammar_path" if how == "flag" else released.PATH_ENV
  assert line.startswith(f"{bad} (from {source}) is not the authors' released grammar"), line
  assert "data.preset='file'" in line and released.SHA256 in line
  with pytest.raises(released.ReleasedGrammarError, match="is not a file"):
    resolve(stand_in / "missing.txt")


def test_flag_wins_over_the_variable(stand_in, monkeypatch):
  good = stand_in / "good.txt"
  good.write_bytes(PAYLOAD)
  monkeypatch.setenv(released.PATH_ENV, str(stand_in / "missing.txt"))
  assert released.grammar_path(str(good)) == str(good)


def test_changed_cache_file_is_named_and_left_alone(stand_in, local_server):
  path = released.grammar_path()
  with open(path, "ab") as f:
    f.write(b"# edited\n")
  with pytest.raises(released.ReleasedGrammarError, match=f"^{path} \\(from the cache\\) is not the authors'"):
    released.grammar_path()
  assert open(path, "rb").read() == PAYLOAD + b"# edited\n" and len(local_server.requests) == 1


def test_make_language_reads_the_verified_copy(stand_in, local_server):
  lang = make_language({"kind": "pcfg", "preset": "released", "grammar_path": "", "seed": 0})
  assert (lang.vocab_size, lang.max_length) == (2, 1)
  assert lang.card_extras()["grammar_file"]["path"] == released.cache_path()
  other = stand_in / "mine.txt"
  other.write_bytes(PAYLOAD.replace(b"0.5", b"0.25").replace(b"w1 0.25", b"w1 0.75"))
  lang = make_language({"kind": "pcfg", "preset": "file", "grammar_path": str(other), "seed": 0})
  assert lang.card_extras()["grammar_file"]["sha256"] == released.digest(other.read_bytes())


def test_constants_are_the_authors_file(released_grammar_path):
  data = open(released_grammar_path, "rb").read()
  assert (len(data), released.digest(data)) == (released.SIZE, released.SHA256)
  assert released.URL.endswith(f"/{released.COMMIT}/pcfg/rule_deep_mlm.txt")


def test_data_card_released_on_a_fresh_machine_says_how_to_provide_the_file(tmp_path):
  """What a new user sees offline with an empty cache: one line, exit 2 (old code: 'No such file or directory')."""
  env = {k: v for k, v in os.environ.items() if k != released.PATH_ENV}
  env.update(JAX_PLATFORMS="cpu", XDG_CACHE_HOME=str(tmp_path / "xdg"), FLATNESS_OFFLINE="1")
  env.pop(released.CACHE_ENV, None)
  proc = subprocess.run([sys.executable, "-m", "experiments.main", "--config=configs/data_card.py:released",
                         f"--workdir={tmp_path / 'card'}"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                        timeout=300)
  assert proc.returncode == 2, proc.stderr[-3000:]
  lines = proc.stderr.strip().splitlines()
  assert "Traceback" not in proc.stderr and lines[-1].startswith("error: the authors' released grammar is not "
                                                                 "cached"), proc.stderr[-3000:]
  for part in (released.URL, released.SHA256, str(tmp_path / "xdg" / "flatness_jax" / "data"),
               "--config.data.grammar_path=PATH", released.PATH_ENV):
    assert part in lines[-1], (part, lines[-1])
  assert not os.path.exists(tmp_path / "card" / "data_card.json")
