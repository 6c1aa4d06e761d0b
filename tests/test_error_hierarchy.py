"""Every deliberate error derives from MinidlError and keeps its builtin meaning (issue 11).

The sweep reads the source of framework/ and plugins/ (ast): a ``raise`` of a
plain builtin (ValueError, TypeError, KeyError, RuntimeError, LookupError,
IndexError, AttributeError, OSError) is a defect, listed with file and line.
Re-raising a caught exception (``raise``, ``raise exc``) is not a new error
and is not flagged; nor is a line marked ``# builtin: REASON`` (a Python
protocol that needs the plain builtin, such as ``__getattr__``).
"""

import ast
import inspect
from pathlib import Path

import pytest

import framework.errors as errors
from framework.errors import MinidlError

ROOT = Path(__file__).resolve().parents[1]
PLAIN = {"ValueError", "TypeError", "KeyError", "RuntimeError", "LookupError", "IndexError", "AttributeError",
         "OSError", "Exception", "AssertionError"}


def plain_raises(path: Path) -> list[str]:
    found = []
    text = path.read_text()
    lines = text.splitlines()
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, ast.Raise) and node.exc is not None and "# builtin:" not in lines[node.lineno - 1]:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id in PLAIN:
                found.append((node.lineno, f"{path.relative_to(ROOT)}:{node.lineno}: raise {exc.id}"))
    return [text for _, text in sorted(found)]


def test_no_deliberate_raise_of_a_plain_builtin():
    sources = sorted((ROOT / "framework").rglob("*.py")) + sorted((ROOT / "plugins").rglob("*.py"))
    assert sources
    found = [hit for path in sources for hit in plain_raises(path)]
    assert not found, ("raise a framework.errors class (it derives from MinidlError and the builtin), not:\n  "
                       + "\n  ".join(found))


def test_the_sweep_sees_what_it_looks_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f(x):\n    if x:\n        raise ValueError('bad')\n    try:\n        g()\n"
                      "    except KeyError as exc:\n        raise\n    raise TypeError\n")
    assert [h.split(": ", 1)[1] for h in plain_raises_at(sample, tmp_path)] == ["raise ValueError", "raise TypeError"]


def plain_raises_at(path, root):
    global ROOT
    saved, ROOT = ROOT, root
    try:
        return plain_raises(path)
    finally:
        ROOT = saved


@pytest.mark.parametrize("name", [n for n, c in vars(errors).items()
                                  if inspect.isclass(c) and issubclass(c, Exception) and c.__module__ == errors.__name__])
def test_every_error_class_is_a_minidl_error(name):
    assert issubclass(getattr(errors, name), MinidlError)
