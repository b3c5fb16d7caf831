"""Build lpot's C engine (lpot._engine) from every csrc/**/*.c.

Environment:
  LPOT_SANITIZE=1   AddressSanitizer + UndefinedBehaviorSanitizer build
  LPOT_WERROR=1     warnings are errors (CI and `make` set it)
  LPOT_ONEDNN_ROOT  prefix holding include/oneapi/dnnl and lib/libdnnl.so
"""
import glob
import os
import sys

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "tools"))
from build_deps import BuildDepError, find_libyaml, find_onednn  # noqa: E402


def engine_extension() -> Extension:
    import numpy

    try:
        yaml = find_libyaml()
        dnnl = find_onednn()
    except BuildDepError as e:
        sys.exit(str(e))

    sources = sorted(glob.glob("csrc/**/*.c", recursive=True))
    extra_compile = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra",
                     "-fvisibility=hidden", "-fno-strict-aliasing",
                     "-fopenmp"]  # GNU OpenMP: the runtime oneDNN's gomp build uses
    extra_link = ["-fopenmp"]
    if os.environ.get("LPOT_WERROR") == "1":
        extra_compile.append("-Werror")
    if os.environ.get("LPOT_SANITIZE") == "1":
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
               "-fno-sanitize-recover=undefined"]
        extra_compile += san + ["-g", "-O1"]
        extra_link += san
    # oneDNN's library (the onednn-cpu-gomp wheel) sits in <prefix>/lib. From
    # site-packages/lpot/ that is $ORIGIN/../../..; editable and in-place
    # builds need the absolute paths: the installing interpreter's prefix
    # (pip's isolated build env keeps sys.prefix) and where we found it.
    rpaths = ["$ORIGIN/../../..", os.path.join(sys.prefix, "lib")]
    rpaths += [d for d in dnnl.library_dirs if d not in rpaths]
    return Extension(
        "lpot._engine",
        sources=sources,
        include_dirs=["csrc", numpy.get_include()] + yaml.include_dirs + dnnl.include_dirs,
        library_dirs=yaml.library_dirs + dnnl.library_dirs,
        libraries=yaml.libraries + dnnl.libraries + ["m", "pthread"],
        runtime_library_dirs=rpaths,
        extra_compile_args=extra_compile,
        extra_link_args=extra_link,
        depends=sorted(glob.glob("csrc/**/*.h", recursive=True)),
    )


setup(ext_modules=[engine_extension()])
