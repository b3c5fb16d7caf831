"""lpot.conf: LPOT 1.x YAML configurations, parsed and validated by the C engine.

    from lpot.conf import Config
    cfg = Config('conf.yaml')            # or YAML text, or a dict
    cfg.tuning.accuracy_criterion.relative
    cfg.to_yaml(); cfg.to_dict()

`python -m lpot.conf check conf.yaml` validates a file from the shell.
The structure of a loaded configuration is documented in docs/config.md.
"""
from lpot import ConfigError
from lpot.conf.config import (
    Config,
    DotDict,
    dump_yaml,
    is_op_regex,
    load,
    template_names,
    template_path,
)

__all__ = ["Config", "ConfigError", "DotDict", "dump_yaml", "is_op_regex", "load",
           "template_names", "template_path"]
