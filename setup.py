"""Build step that puts the kiosk front end and the migrations into the package; the rest is in pyproject.toml.

Both live at the top of the project (kiosk/, migrations/), beside scheduler/, as the design card lays out. A
wheel carries them as scheduler/kiosk_files/ and scheduler/migration_files/, where scheduler.channels.kiosk and
scheduler.db look when no checkout is around. The checkout's folders stay the one source: the copies exist only
in the build directory and the wheel.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PROJECT = Path(__file__).resolve().parent
PACKAGED_AS = {"kiosk": Path("scheduler") / "kiosk_files", "migrations": Path("scheduler") / "migration_files"}


class BuildWithProjectFiles(build_py):
    """build_py, then copy kiosk/* and migrations/* into the built package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install uses the checkout's folders directly
            return
        for folder, packaged in PACKAGED_AS.items():
            target = Path(self.build_lib) / packaged
            self.mkpath(str(target))
            for source in sorted((PROJECT / folder).iterdir()):
                if source.is_file():
                    self.copy_file(str(source), str(target / source.name))


setup(cmdclass={"build_py": BuildWithProjectFiles})
