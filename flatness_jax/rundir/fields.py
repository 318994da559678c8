"""Config fields that hold lists: 'a,b,c' strings (what a dotted flag can pass) or tuples/lists."""


def split_list(value) -> list[str]:
  """['a', 'b'] from 'a, b,' (blanks and empty items dropped) or from a list/tuple of strings; [] for ''/None."""
  if value is None:
    return []
  items = value.split(",") if isinstance(value, str) else list(value)
  return [str(v).strip() for v in items if str(v).strip()]
