"""The property both fuzzers check: a config loads to a result or a
ConfigError with well-formed .errors, and a result survives dump -> load."""
import math

from lpot.conf import ConfigError, dump_yaml, load


def same(a, b):
    """Equal, with NaN equal to NaN and types compared exactly."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def check(source):
    """Load source; assert the ConfigError shape or the round trip. Returns the
    config or None."""
    try:
        cfg = load(source)
    except ConfigError as e:
        assert str(e) and isinstance(e.errors, list) and e.errors
        for line, col, path, msg in e.errors:
            assert isinstance(line, int) and isinstance(col, int) and isinstance(path, str)
            assert msg
        assert str(e).count("\n") + 1 >= len(e.errors)
        return None
    again = load(dump_yaml(cfg))
    again["tuning"]["workspace"]["path"] = cfg["tuning"]["workspace"]["path"]
    assert same(again, cfg), (source, cfg, again)
    return cfg
