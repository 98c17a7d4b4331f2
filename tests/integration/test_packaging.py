"""A clean, non-editable install of the distribution: it is named `tanggap`, the three packages
import, the console script runs, and the bundled configuration and sample ship with it."""

from __future__ import annotations

import subprocess
import sys
import sysconfig

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_a_wheel_install_runs_the_cli_with_the_bundled_configuration(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # The dependencies come from the running interpreter's site-packages, appended after the
    # new venv's own: the project itself is installed fresh, without its editable twin.
    site = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    with open(f"{site}/running-interpreter-deps.pth", "w") as pth:
        pth.write("\n".join(sorted(deps)) + "\n")
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", str(REPO)]
    subprocess.run(pip, check=True, cwd=tmp_path)

    show = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "show", "tanggap"],
                          capture_output=True, text=True, check=True)
    assert "Name: tanggap" in show.stdout

    probe = ("import agents, schemas, streams, streams.demo as demo, pathlib; "
             "assert pathlib.Path(demo.bundled_sample()).is_file(); "
             "print(pathlib.Path(streams.__file__).parent)")
    where = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True,
                           check=True, cwd=tmp_path)
    assert str(REPO) not in where.stdout, "imported the checkout instead of the installed package"

    check = subprocess.run([str(venv / "bin" / "tanggap"), "config", "check"], capture_output=True, text=True,
                           cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
    assert check.returncode == 0, check.stderr
    assert "share/tanggap/config/klaten: OK" in check.stdout
