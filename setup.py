"""Build step that puts the kiosk front end into the package: everything else is configured in pyproject.toml.

The kiosk's files live at the top of the project (kiosk/), beside scheduler/, as the design card lays out. A
wheel carries them as scheduler/kiosk_files/, where scheduler.channels.kiosk looks when no checkout is around.
The checkout's kiosk/ stays the one source: the copy exists only in the build directory and the wheel.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

KIOSK_SOURCE = Path(__file__).resolve().parent / "kiosk"
PACKAGED_AS = Path("scheduler") / "kiosk_files"


class BuildWithKiosk(build_py):
    """build_py, then copy kiosk/* into the built package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install serves the checkout's kiosk/ directly
            return
        target = Path(self.build_lib) / PACKAGED_AS
        self.mkpath(str(target))
        for source in sorted(KIOSK_SOURCE.iterdir()):
            if source.is_file():
                self.copy_file(str(source), str(target / source.name))


setup(cmdclass={"build_py": BuildWithKiosk})
