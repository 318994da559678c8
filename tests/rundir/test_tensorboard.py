"""The TensorFlow-free event writer produces valid TFRecords of Event protos."""
import glob
import struct

import pytest

from flatness_jax.rundir import tensorboard


def test_crc32c_matches_the_standard_check_value():
  # RFC 3720 / iSCSI check value for the ASCII digits "123456789".
  assert tensorboard.crc32c(b"123456789") == 0xE3069283


def _varint(buf, i):
  """The base-128 varint starting at buf[i] and the index after it."""
  v, shift = 0, 0
  while True:
    b = buf[i]; i += 1
    v |= (b & 0x7F) << shift; shift += 7
    if not b & 0x80:
      return v, i


def _parse_fields(buf):
  """Minimal protobuf reader: yields (field, wire, value) for a message."""
  i = 0
  while i < len(buf):
    key, i = _varint(buf, i)
    field, wire = key >> 3, key & 7
    if wire == 0:
      v, i = _varint(buf, i)
    elif wire == 1:
      v = struct.unpack("<d", buf[i:i + 8])[0]; i += 8
    elif wire == 5:
      v = struct.unpack("<f", buf[i:i + 4])[0]; i += 4
    else:
      n, i = _varint(buf, i)
      v = buf[i:i + n]; i += n
    yield field, wire, v


def test_writer_round_trip(tmp_path):
  w = tensorboard.SummaryWriter(str(tmp_path))
  w.scalars(7, {"loss": 1.5, "gap": 0.25})
  w.close()
  (path,) = glob.glob(str(tmp_path / "events.out.tfevents.*"))
  records = list(tensorboard.read_records(path))
  assert len(records) == 2
  header = dict((f, v) for f, _, v in _parse_fields(records[0]))
  assert header[3] == b"brain.Event:2"
  event = dict((f, v) for f, _, v in _parse_fields(records[1]))
  assert event[2] == 7
  values = {}
  for _, _, value in _parse_fields(event[5]):
    fields = dict((f, v) for f, _, v in _parse_fields(value))
    values[fields[1].decode()] = fields[2]
  assert values == {"loss": 1.5, "gap": 0.25}


def test_corrupt_record_is_detected(tmp_path):
  w = tensorboard.SummaryWriter(str(tmp_path))
  w.scalars(1, {"loss": 2.0})
  w.close()
  data = bytearray(open(w.path, "rb").read())
  data[-6] ^= 0xFF
  open(w.path, "wb").write(bytes(data))
  with pytest.raises(ValueError, match="CRC"):
    list(tensorboard.read_records(w.path))
