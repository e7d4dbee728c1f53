"""What a wheel ships: setup.cfg's `packages = find:` takes only folders with an __init__.py."""
import pathlib

from setuptools import find_packages

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_folder_of_code_is_a_package_that_setup_finds():
    folders = {path.parent.relative_to(ROOT).as_posix().replace("/", ".")
               for package in ("minigrad", "ultimus") for path in (ROOT / package).rglob("*.py")}
    assert folders <= set(find_packages(str(ROOT), include=["minigrad*", "ultimus*"]))
