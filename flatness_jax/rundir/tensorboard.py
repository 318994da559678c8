"""A TensorBoard scalar-event writer that needs no TensorFlow (clu's and flax's writers import it).

An events file is a TFRecord stream: each record is
  uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)
(little-endian), where masked_crc(x) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 mod 2^32 and crc is CRC-32C
(Castagnoli). `data` is a serialized `tensorflow.Event` protobuf, which for scalars needs only:
  Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
  Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }
so we encode those few fields by hand (protobuf wire format: varint keys (field << 3 | wire type)).
"""
import os
import socket
import struct
import time

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


def read_records(path: str):
  """Yields the data of each TFRecord in `path`, checking both CRCs (used by tests and report tools)."""
  with open(path, "rb") as f:
    while header := f.read(8):
      (length,) = struct.unpack("<Q", header)
      (hcrc,) = struct.unpack("<I", f.read(4))
      data = f.read(length)
      (dcrc,) = struct.unpack("<I", f.read(4))
      if hcrc != masked_crc32c(header) or dcrc != masked_crc32c(data):
        raise ValueError(f"{path}: corrupt TFRecord (CRC mismatch)")
      yield data


class SummaryWriter:
  """Appends scalar summaries to `logdir/events.out.tfevents.<time>.<host>` readable by TensorBoard."""

  def __init__(self, logdir: str):
    os.makedirs(logdir, exist_ok=True)
    name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
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
