"""No code runs from data (P1), and every promise of docs/security.md names a test that exists."""

import ast
import re
import sys
from pathlib import Path

import pytest

from framework import ConfigError, Experiment

ROOT = Path(__file__).resolve().parents[2]


def test_component_names_resolve_only_through_the_registry():
    for name in ("os.system", "antigravity", "builtins.eval", "__import__"):
        assert name.split(".")[0] not in sys.modules or name.split(".")[0] in ("os", "builtins")
        spec = {"model": {"layers": [{"type": name}]}, "loss": {"type": name}, "optimizer": {"type": name},
                "data": {"source": {"type": name}}, "trainer": {"callbacks": [{"type": name}]}}
        with pytest.raises(ConfigError) as info:
            Experiment.from_dict(spec)
        text = str(info.value)
        assert f"model.layers[0].type: can't find {name!r} in registry layers" in text
        assert f"data.source.type: can't find {name!r} in registry datasets" in text
    assert "antigravity" not in sys.modules  # naming a module imports nothing


FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
FORBIDDEN_MODULES = {"pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle", "joblib"}


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS:
                found.append(f"{path}:{node.lineno}: calls {func.id}")
            for kw in node.keywords:
                if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    found.append(f"{path}:{node.lineno}: allow_pickle is not False")
            if isinstance(func, ast.Attribute) and func.attr == "import_module" and path.name != "plugin_manager.py":
                found.append(f"{path}:{node.lineno}: imports a module by name")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for n in names:
                if n.split(".")[0] in FORBIDDEN_MODULES:
                    found.append(f"{path}:{node.lineno}: imports {n}")
    return found


def test_no_module_of_minidl_evaluates_or_unpickles():
    files = sorted((ROOT / "framework").glob("*.py")) + sorted((ROOT / "plugins").glob("*.py"))
    assert len(files) > 20
    problems = [p for f in files for p in _problems(f)]
    assert not problems, "\n".join(problems)
    # The scan itself finds what it looks for.
    probe = ROOT / "tests" / "hostile" / "corpus.py"
    assert any("allow_pickle" in p for p in _problems(probe))


def test_every_promise_of_the_security_doc_names_tests_that_exist():
    text = (ROOT / "docs" / "security.md").read_text()
    promises = re.findall(r"\*\*(P\d+)\. ", text)
    assert promises == [f"P{i}" for i in range(1, len(promises) + 1)] and len(promises) >= 8
    for number in promises:
        section = text.split(f"**{number}. ")[1].split("\n**P")[0]
        refs = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", section)
        assert refs, f"{number} names no test"
        for file, test in refs:
            source = (ROOT / file).read_text()
            assert re.search(rf"^def {test}\(", source, re.M), f"{number}: {file}::{test} does not exist"
