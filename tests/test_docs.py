"""Docs that must stay true: every Python block runs, the format reference covers the schema,
the README's commands are CI's.

Every ```python block of README.md and docs/*.md is executed, the blocks of
one file in order and in one namespace, in a temporary working directory.
Conventions, each an HTML comment on the line before the block:

* ``<!-- not-run: REASON -->``: a deliberately partial block (a sketch, a
  fragment of a class); skipped, and the reason is required.
* ``<!-- file: NAME.py -->``: the block is a module of the reader's own (a
  plugin): it is written as NAME.py on ``sys.path`` instead of being run,
  so later blocks can import it; when it implements minidl hooks it is
  registered in-process, as installing the plugin would do.

A ```text block right after a Python block is that block's output and must
equal what the block prints (trailing spaces aside); ``...`` in it matches
any text, for values a reader need not check (timings).
"""

import contextlib
import importlib
import io
import re
import sys
import textwrap
from pathlib import Path

import pytest

from framework import Experiment
from framework.registry import registry

ROOT = Path(__file__).resolve().parents[1]


def schema_fields(schema):
    names = set(schema.get("properties", {}))
    for definition in schema.get("$defs", {}).values():
        names |= set(definition.get("properties", {}))
    return names


def test_experiment_reference_documents_every_schema_field():
    text = (ROOT / "docs" / "experiments.md").read_text()
    missing = sorted(name for name in schema_fields(Experiment.model_json_schema()) if f"`{name}`" not in text)
    assert not missing, f"docs/experiments.md does not document: {missing}"


def test_experiment_reference_names_every_builtin_component():
    text = (ROOT / "docs" / "experiments.md").read_text()
    for entry in registry.entries():
        if entry.plugin.distribution == "minidl":
            assert f"`{entry.name}`" in text, f"{entry.kind} {entry.name!r} is not in docs/experiments.md"


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    test_command = next(c for c in commands if "pytest" in c)
    assert test_command in ci
    assert any("minidl run experiments/" in c for c in commands)


def test_the_elementwise_optimizer_example_in_the_plugin_guide_runs_blocked():
    import numpy as np

    from framework import Optimizer, Parameter

    text = (ROOT / "docs" / "plugins.md").read_text()
    code = re.search(r"```python\n([^`]*?class SignSGD\(Optimizer\):.*?)```", text, re.S).group(1)
    namespace = {"Optimizer": Optimizer, "np": np}
    exec(code, namespace)
    rng = np.random.default_rng(0)
    p = Parameter(rng.standard_normal((300, 300)), "W")   # 720 KB: three blocks
    start = p.data.copy()
    p.grad[...] = rng.standard_normal((300, 300))
    opt = namespace["SignSGD"]([p], lr=0.1)
    opt.step()
    np.testing.assert_array_equal(p.data, start - 0.1 * np.sign(p.grad))


def run_section(path, heading):
    """Run the python blocks under ``heading`` in one namespace; check each against the text block after it."""
    import contextlib
    import io

    text = (ROOT / path).read_text()
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    section = text[start:end if end != -1 else None]
    blocks = re.findall(r"```(python|text)\n(.*?)```", section, re.S)
    assert blocks, f"no code blocks under {heading!r} in {path}"
    namespace: dict = {}
    output = None
    for lang, code in blocks:
        if lang == "python":
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(compile(code, f"{path}:{heading}", "exec"), namespace)
            output = buffer.getvalue()
        else:
            assert output is not None, f"a text block with no python block before it in {heading!r}"
            assert output == code, f"{path} shows\n{code}\nbut the block prints\n{output}"
            output = None
    return namespace


def test_the_stateful_and_random_layer_examples_of_the_plugin_guide_run_as_shown():
    import numpy as np

    ns = run_section("docs/plugins.md", "## Layers with state")
    from framework.testing import check_layer

    # the examples are real layers: the kit passes them (the random one with its generator frozen)
    assert check_layer(lambda: ns["RunningCentering"](3), in_features=3).ok
    model = ns["Sequential"]([ns["RunningCentering"](2), ns["GaussianNoise"](0.5)])
    assert [n for n, _ in model.named_buffers()] == ["0.running_mean"]
    assert np.array_equal(model.predict(np.ones((2, 3))), np.ones((2, 3)))


# -- every Python block runs ------------------------------------------------------
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[ \t]*$")
MARKER = re.compile(r"<!--\s*(not-run|file):\s*(.*?)\s*-->")


def doc_files():
    return [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def blocks(path: Path):
    """(line, lang, code, marker) for every fenced block; marker is (kind, value) or None."""
    lines = path.read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match or not match["lang"]:
            i += 1
            continue
        start, indent = i, match["indent"]
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
            i += 1
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        marker = MARKER.search(lines[j]) if j >= 0 else None
        out.append((start + 1, match["lang"], textwrap.dedent("\n".join(body)) + "\n",
                    (marker[1], marker[2]) if marker else None))
        i += 1
    return out


def expected_output_matches(expected: str, actual: str) -> bool:
    def norm(text):
        return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())

    pattern = ".*?".join(re.escape(part) for part in norm(expected).split("..."))
    return re.fullmatch(pattern, norm(actual), re.S) is not None


def python_docs():
    return [p for p in doc_files() if any(lang == "python" for _, lang, _, _ in blocks(p))]


@pytest.mark.parametrize("path", python_docs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_python_block_of_the_docs_runs_and_prints_what_it_shows(path, tmp_path, monkeypatch):
    from framework.registry import registry

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace: dict = {"__name__": f"doc_{path.stem}"}
    found = blocks(path)
    registered, modules = [], []
    try:
        for n, (line, lang, code, marker) in enumerate(found):
            if lang != "python":
                continue
            where = f"{path.relative_to(ROOT)}:{line}"
            if marker and marker[0] == "not-run":
                assert marker[1], f"{where}: a not-run marker must say why"
                continue
            if marker and marker[0] == "file":
                name = marker[1]
                assert name.endswith(".py"), f"{where}: file marker {name!r} must name a .py module"
                (tmp_path / name).write_text(code)
                module = importlib.import_module(name[:-3])
                modules.append(name[:-3])
                if any(callable(v) and hasattr(v, "minidl_impl") for v in vars(module).values()):
                    registry.register(module, name[:-3])
                    registered.append(name[:-3])
                continue
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                try:
                    exec(compile(code, where, "exec"), namespace)
                except Exception as exc:
                    raise AssertionError(f"{where}: the block raised {type(exc).__name__}: {exc}") from exc
            following = found[n + 1] if n + 1 < len(found) else None
            if following is not None and following[1] == "text" and following[3] is None:
                assert expected_output_matches(following[2], out.getvalue()), (
                    f"{where}: the block prints\n{out.getvalue()}\nbut the docs show\n{following[2]}")
        for name, fn in list(namespace.items()):
            if name.startswith("test_") and callable(fn):
                run_doc_test(fn)  # a test the docs suggest writing must pass
    finally:
        for name in registered:
            registry.unregister(name)
        for name in modules:
            sys.modules.pop(name, None)


def run_doc_test(fn):
    """Call a test function shown in the docs, once per parameter set of a parametrize mark."""
    marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "parametrize"]
    if not marks:
        return fn()
    names, values = marks[0].args[:2]
    names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    for value in values:
        try:
            fn(**dict(zip(names, value if len(names) > 1 else [value])))
        except (pytest.skip.Exception, pytest.xfail.Exception):
            pass  # shown to pytest as a skip or expected failure, not a failure


def test_the_docs_block_reader_sees_markers_and_indented_blocks():
    sample = ("text\n\n<!-- not-run: a sketch -->\n```python\nx = 1\n```\n"
              "1. item\n\n   ```python\n   y = 2\n   ```\n   ```text\n   2\n   ```\n")
    path = ROOT / "tests" / "_sample.md"
    try:
        path.write_text(sample)
        found = blocks(path)
    finally:
        path.unlink()
    assert [(lang, code, marker) for _, lang, code, marker in found] == [
        ("python", "x = 1\n", ("not-run", "a sketch")), ("python", "y = 2\n", None), ("text", "2\n", None)]
    assert expected_output_matches("loss ...\nr2 0.9", "loss 0.123  \nr2 0.9\n")
    assert not expected_output_matches("r2 0.9", "r2 0.8")


def test_the_bad_example_of_the_experiment_reference_prints_what_it_shows(tmp_path, monkeypatch, capsys):
    from framework.cli import main

    text = (ROOT / "docs" / "experiments.md").read_text()
    toml = re.search(r"`bad.toml`:\n\n```toml\n(.*?)```", text, re.S).group(1)
    shown = re.search(r"```\n\$ minidl validate bad.toml\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_text(toml)
    assert main(["validate", "bad.toml"]) == 2
    assert expected_output_matches(shown, capsys.readouterr().err)
