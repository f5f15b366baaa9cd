"""The kiosk front end (top-level kiosk/) and the migrations ship inside an installed wheel, and the package finds them.

The wheel is built from a copy of the project's package sources in a temporary directory, so the checkout
gets no build/ directory; pip builds offline with the venv's setuptools (--no-build-isolation).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from scheduler.channels import kiosk

ROOT = Path(__file__).resolve().parents[2]
KIOSK_SOURCE = ROOT / "kiosk"
PACKAGED = "scheduler/kiosk_files"
BUILD_INPUTS = ("pyproject.toml", "setup.py", "scheduler", "kiosk", "migrations")


def kiosk_files() -> set[str]:
    return {p.name for p in KIOSK_SOURCE.iterdir() if p.is_file()}


def build_wheel(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    for name in BUILD_INPUTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, project / name)
    out = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(project), "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "-w", str(out)], check=True, capture_output=True, timeout=120)
    (wheel,) = out.glob("jobcenter_scheduler-*.whl")
    return wheel


def test_checkout_serves_the_top_level_kiosk_folder() -> None:
    # make run installs editable: the handler serves the checkout's files, and the package holds no copy
    assert kiosk.KIOSK_DIR == KIOSK_SOURCE
    assert not (ROOT / PACKAGED).exists()
    assert {"index.html", "kiosk.js", "kiosk.css", "icons.svg"} <= kiosk_files()


def test_wheel_carries_the_kiosk_and_the_migrations_and_the_installed_package_finds_them(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"{PACKAGED}/{name}" for name in kiosk_files()} <= names
    assert not any(n.startswith("kiosk/") for n in names)  # inside the package, not a stray top-level folder

    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True, timeout=120)
    # A fresh interpreter that imports the installed copy (first on sys.path), not the checkout.
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import scheduler.channels.kiosk as k; "
             "import scheduler.db as d; print(k.__file__); print(k.KIOSK_DIR); print(d.MIGRATIONS_DIR)")
    result = subprocess.run([sys.executable, "-c", probe, str(target)], check=True, capture_output=True,
                            text=True, cwd=tmp_path, timeout=60)
    module_file, kiosk_dir, migrations_dir = (Path(line) for line in result.stdout.split())
    assert module_file.is_relative_to(target.resolve())
    assert kiosk_dir == target.resolve() / PACKAGED
    for name in kiosk_files():
        assert (kiosk_dir / name).read_bytes() == (KIOSK_SOURCE / name).read_bytes()
    # `python -m scheduler migrate` from the wheel: every migration is there, as in the checkout
    assert migrations_dir == target.resolve() / "scheduler/migration_files"
    assert sorted(p.name for p in migrations_dir.glob("*.sql")) == sorted(p.name for p in (ROOT / "migrations").glob("*.sql"))
