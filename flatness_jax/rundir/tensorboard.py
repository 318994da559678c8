"""A TensorBoard scalar-event writer that needs no TensorFlow (clu's and flax's writers import it).

An events file is a TFRecord stream: each record is
  uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)
(little-endian), where masked_crc(x) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 mod 2^32 and crc is CRC-32C
(Castagnoli). `data` is a serialized `tensorflow.Event` protobuf, which for scalars needs only:
  Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
  Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }
so we encode those few fields by hand (protobuf wire format: varint keys (field << 3 | wire type)).

Every step once: a writer opened on a resumed run (`keep_through` = the step it resumes from) first rewrites each
existing events file without the records of later steps (a killed run logged them after its checkpoint; the
resumed run logs them again), and a torn last record left by a kill is dropped with them.
"""
import os
import socket
import struct
import time

from absl import logging

from flatness_jax.rundir import integrity

_CRC_TABLE = []
for _i in range(256):
  _c = _i
  for _ in range(8):
    _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
  _CRC_TABLE.append(_c)


def crc32c(data: bytes) -> int:
  """CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected)."""
  crc = 0xFFFFFFFF
  for b in data:
    crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
  return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
  """TFRecord's masked CRC."""
  crc = crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
  out = bytearray()
  n &= (1 << 64) - 1
  while True:
    byte = n & 0x7F
    n >>= 7
    out.append(byte | (0x80 if n else 0))
    if not n:
      return bytes(out)


def _field(num: int, wire: int, payload: bytes) -> bytes:
  return _varint(num << 3 | wire) + payload


def _len_delimited(num: int, payload: bytes) -> bytes:
  return _field(num, 2, _varint(len(payload)) + payload)


def encode_event(wall_time: float, step: int = 0, scalars: dict | None = None,
                 file_version: str | None = None) -> bytes:
  """Serializes an Event protobuf holding `scalars` (tag -> float) or a file_version header."""
  msg = _field(1, 1, struct.pack("<d", wall_time)) + _field(2, 0, _varint(int(step)))
  if file_version is not None:
    msg += _len_delimited(3, file_version.encode())
  if scalars:
    values = b"".join(
        _len_delimited(1, _len_delimited(1, tag.encode()) + _field(2, 5, struct.pack("<f", float(v))))
        for tag, v in scalars.items())
    msg += _len_delimited(5, values)
  return msg


def encode_record(data: bytes) -> bytes:
  """Frames `data` as one TFRecord."""
  header = struct.pack("<Q", len(data))
  return (header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data)))


def read_records(path: str, torn: list | None = None):
  """Yields the data of each TFRecord in `path`, checking both CRCs; a record cut short at the end of the file (a
  killed writer) ends the stream, noted in `torn` when given. A CRC mismatch raises ValueError naming the file."""
  with open(path, "rb") as f:
    while header := f.read(8):
      rest = f.read(4)
      length = struct.unpack("<Q", header)[0] if len(header) == 8 else 0
      data = f.read(length) if len(rest) == 4 else b""
      tail = f.read(4)
      if len(header) < 8 or len(rest) < 4 or len(data) < length or len(tail) < 4:
        if torn is not None:
          torn.append(path)
        return
      if struct.unpack("<I", rest)[0] != masked_crc32c(header) or struct.unpack("<I", tail)[0] != masked_crc32c(data):
        raise ValueError(f"{path}: corrupt TFRecord (CRC mismatch)")
      yield data


def _fields(msg: bytes):
  """(field number, wire type, value) of a protobuf message: ints for varint/fixed, bytes for length-delimited."""
  i = 0
  while i < len(msg):
    key, i = _read_varint(msg, i)
    num, wire = key >> 3, key & 7
    if wire == 0:
      value, i = _read_varint(msg, i)
    elif wire == 1:
      value, i = msg[i:i + 8], i + 8
    elif wire == 2:
      n, i = _read_varint(msg, i)
      value, i = msg[i:i + n], i + n
    elif wire == 5:
      value, i = msg[i:i + 4], i + 4
    else:
      raise ValueError(f"unsupported protobuf wire type {wire}")
    yield num, wire, value


def _read_varint(buf: bytes, i: int):
  shift = value = 0
  while True:
    b = buf[i]
    i += 1
    value |= (b & 0x7F) << shift
    shift += 7
    if not b & 0x80:
      return value, i


def decode_event(data: bytes):
  """(step, {tag: value}) of an Event written by `encode_event` (the file_version header: (0, {}))."""
  step, scalars = 0, {}
  for num, _, value in _fields(data):
    if num == 2:
      step = value
    elif num == 5:
      for vnum, _, v in _fields(value):
        if vnum == 1:
          tag, simple = "", 0.0
          for fnum, _, fv in _fields(v):
            if fnum == 1:
              tag = fv.decode()
            elif fnum == 2:
              simple = struct.unpack("<f", fv)[0]
          scalars[tag] = simple
  return step, scalars


def event_files(logdir: str) -> list[str]:
  """The events files of `logdir`, by name (TensorBoard's order)."""
  if not os.path.isdir(logdir):
    return []
  return sorted(os.path.join(logdir, f) for f in os.listdir(logdir) if ".tfevents." in f and not f.startswith("."))


def read_scalars(logdir: str) -> list[tuple]:
  """(step, tag, value) of every scalar logged in `logdir`, in file and record order."""
  out = []
  for path in event_files(logdir):
    for data in read_records(path, torn=[]):
      step, scalars = decode_event(data)
      out.extend((step, tag, value) for tag, value in scalars.items())
  return out


def truncate(logdir: str, keep_through: int) -> None:
  """Rewrites every events file of `logdir` without its records of steps after `keep_through` (and a torn last
  record), atomically; files with nothing to drop are left untouched."""
  for path in event_files(logdir):
    torn, kept, dropped = [], [], False
    try:
      for data in read_records(path, torn):
        step, scalars = decode_event(data)
        if scalars and step > keep_through:
          dropped = True
        else:
          kept.append(data)
    except (ValueError, IndexError):
      logging.warning("%s is damaged (CRC mismatch); left as it is", path)
      continue
    if dropped or torn:
      integrity.write_atomic(path, lambda f, kept=kept: f.write(b"".join(encode_record(d) for d in kept)),
                             ".tmp", mode="wb")


class SummaryWriter:
  """Appends scalar summaries to `logdir/events.out.tfevents.<time>.<host>.<pid>` readable by TensorBoard; with
  `keep_through`, first drops the records of later steps from the existing files (module docstring)."""

  def __init__(self, logdir: str, keep_through: int | None = None):
    os.makedirs(logdir, exist_ok=True)
    if keep_through is not None:
      truncate(logdir, keep_through)
    name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}"
    self.path = os.path.join(logdir, name)
    self._f = open(self.path, "ab")
    self._f.write(encode_record(encode_event(time.time(), 0, file_version="brain.Event:2")))
    self._f.flush()

  def scalars(self, step: int, values: dict) -> None:
    finite = {k: float(v) for k, v in values.items() if isinstance(v, (int, float))}
    self._f.write(encode_record(encode_event(time.time(), step, finite)))
    self._f.flush()

  def close(self) -> None:
    self._f.close()
