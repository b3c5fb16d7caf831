"""The build's dependency checks give one clear line when something is missing."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import build_deps  # noqa: E402


def test_missing_libyaml_is_one_clear_line(tmp_path):
    with pytest.raises(build_deps.BuildDepError) as ei:
        build_deps.find_libyaml(include_dirs=[str(tmp_path)], lib_dirs=[str(tmp_path)])
    msg = str(ei.value)
    assert "\n" not in msg
    assert "apt-get install libyaml-dev" in msg


def test_libyaml_found_in_given_dirs(tmp_path):
    (tmp_path / "inc").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "inc" / "yaml.h").write_text("")
    (tmp_path / "lib" / "libyaml.so").write_text("")
    dep = build_deps.find_libyaml([str(tmp_path / "inc")], [str(tmp_path / "lib")])
    assert dep.include_dirs == [str(tmp_path / "inc")]
    assert dep.libraries == ["yaml"]


def test_header_without_library_is_missing(tmp_path):
    (tmp_path / "yaml.h").write_text("")
    with pytest.raises(build_deps.BuildDepError, match="libyaml-dev"):
        build_deps.find_libyaml([str(tmp_path)], [str(tmp_path / "nolib")])


def test_onednn_missing_and_found(tmp_path):
    with pytest.raises(build_deps.BuildDepError, match="onednn-devel-cpu-gomp==2023.2.0"):
        build_deps.find_onednn([str(tmp_path)])
    (tmp_path / "include" / "oneapi" / "dnnl").mkdir(parents=True)
    (tmp_path / "include" / "oneapi" / "dnnl" / "dnnl.h").write_text("")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libdnnl.so.3").write_text("")
    dep = build_deps.find_onednn([str(tmp_path)])
    assert dep.library_dirs == [str(tmp_path / "lib")]


def test_this_machine_has_both():
    build_deps.find_libyaml()
    build_deps.find_onednn()


def test_engine_finds_onednn_without_ld_library_path(py):
    r = py("import lpot; print(lpot.cpu_features()['onednn']['version'])",
           env_extra={"LD_LIBRARY_PATH": ""})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().startswith("3.")
