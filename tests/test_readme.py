"""README.md's code cannot rot: every ```python block runs as written, each on its own, except the blocks
that open with a file's path, which must still be copied word for word from that file; and every stop of
the reading path exists, opens with a docstring, and has no function longer than 30 lines."""
import importlib
import inspect
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
EXCERPT = re.compile(r"# ((?:minigrad|ultimus|tests)/[\w/]+\.py)\n")  # the first line of a block copied from a file
LONGEST_FUNCTION = 30


def python_blocks(text):
    """(line number, code) of every fenced block opened with ```python."""
    return [(text.count("\n", 0, match.start()) + 2, match.group(1))
            for match in re.finditer(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)]


def section(text, heading):
    """The text of the README section under ``## heading``, up to the next ``## ``."""
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end == -1 else text[start:end]


def reading_path_stops(text):
    """Every `path.py:Name` (or `path.py:Class.method`) named by the reading path."""
    return re.findall(r"`((?:minigrad|ultimus)/[\w/]+\.py):([\w.]+)`", section(text, "Reading path"))


TEXT = README.read_text(encoding="utf-8")
BLOCKS = python_blocks(TEXT)
EXCERPTS = [(line, code) for line, code in BLOCKS if EXCERPT.match(code)]
RUNNABLE = [(line, code) for line, code in BLOCKS if not EXCERPT.match(code)]
STOPS = reading_path_stops(TEXT)


def test_the_readme_has_python_blocks_excerpts_and_a_reading_path():
    assert RUNNABLE and EXCERPTS and len(STOPS) >= 12, "the extraction patterns or the README changed"


def test_python_blocks_are_found_with_their_line_numbers():
    text = "intro\n```python\nx = 1\n```\n\n```\nnot python\n```\n```python\ny = 2\nz = 3\n```\n"
    assert python_blocks(text) == [(3, "x = 1\n"), (10, "y = 2\nz = 3\n")]


@pytest.mark.parametrize("line, code", RUNNABLE, ids=[f"README.md:{line}" for line, _ in RUNNABLE])
def test_readme_block_runs(line, code):
    exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "readme_block"})


@pytest.mark.parametrize("line, code", EXCERPTS, ids=[f"README.md:{line}" for line, _ in EXCERPTS])
def test_readme_excerpt_is_the_library_code(line, code):
    path = EXCERPT.match(code).group(1)
    excerpt = code[EXCERPT.match(code).end():]
    assert excerpt in (ROOT / path).read_text(encoding="utf-8"), f"README.md:{line} is no longer a copy of {path}"


def test_how_to_add_an_op_shows_every_step_from_the_library():
    """The guide's example covers the Function, the wrapper, both exports, the layer and the test."""
    guide = section(TEXT, "How to add an op")
    files = {EXCERPT.match(code).group(1) for _, code in EXCERPTS if code in guide}
    assert files >= {"minigrad/functional/activation.py", "minigrad/functional/normalization.py",
                     "minigrad/functional/__init__.py", "minigrad/nn/layers.py", "minigrad/nn/__init__.py",
                     "tests/op_table.py"}


def resolve(path, name):
    """The object that `path:name` names (name may be Class.method)."""
    target = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    for part in name.split("."):
        target = getattr(target, part)
    return target


def functions_of(target):
    """target itself if it is a function; a class's own methods."""
    if inspect.isclass(target):
        return [value for value in vars(target).values() if inspect.isfunction(value)]
    return [target]


@pytest.mark.parametrize("path, name", STOPS, ids=[f"{path}:{name}" for path, name in STOPS])
def test_reading_path_stop_opens_on_its_idea_and_stays_short(path, name):
    target = resolve(path, name)
    assert inspect.getmodule(target).__file__ == str(ROOT / path), f"{name} is not defined in {path}"
    assert inspect.getdoc(target), f"{path}:{name} has no docstring to open on"
    for function in functions_of(target):
        length = len(inspect.getsourcelines(function)[0])
        assert length <= LONGEST_FUNCTION, f"{path}:{function.__qualname__} is {length} lines long"
