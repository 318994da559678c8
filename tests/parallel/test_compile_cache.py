"""The compilation cache is used only when no other user could have changed it: the directory, its parents (a
sticky bit excepted) and every entry inside are checked."""
import os
import warnings

from flatness_jax.parallel import compile_cache


def test_a_private_directory_is_trusted(tmp_path):
  d = tmp_path / "cache"
  d.mkdir(mode=0o700)
  (d / "entry").write_bytes(b"x")
  os.chmod(d / "entry", 0o600)
  assert compile_cache.untrusted_reason(str(d)) is None


def test_a_parent_writable_by_others_is_refused(tmp_path):
  parent = tmp_path / "shared"
  parent.mkdir()
  os.chmod(parent, 0o777)
  d = parent / "cache"
  d.mkdir(mode=0o700)
  assert f"its parent {parent} is owned by another user or writable" in compile_cache.untrusted_reason(str(d))
  os.chmod(parent, 0o1777)  # sticky, as /tmp: others cannot rename what is ours
  assert compile_cache.untrusted_reason(str(d)) is None


def test_an_entry_writable_by_others_or_a_link_is_refused_and_the_cache_left_off(tmp_path):
  d = tmp_path / "cache"
  d.mkdir(mode=0o700)
  (d / "entry").write_bytes(b"x")
  os.chmod(d / "entry", 0o666)
  assert f"its entry {d / 'entry'}" in compile_cache.untrusted_reason(str(d))
  os.chmod(d / "entry", 0o600)
  os.symlink("/etc/hostname", d / "link")
  assert f"its entry {d / 'link'}" in compile_cache.untrusted_reason(str(d))
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert compile_cache.enable(str(d)) is None
  assert "not private to this user" in str(caught[0].message)
