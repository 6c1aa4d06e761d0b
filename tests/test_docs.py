"""Docs that must stay true: the format reference covers the schema, the README's commands are CI's."""

import re
from pathlib import Path

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
    code = re.search(r"```python\n(class SignSGD\(Optimizer\):.*?)```", text, re.S).group(1)
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
