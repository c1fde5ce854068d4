"""The docs' worked example of a new task runs as written: its file is taken from docs/plugins.md,
loaded with --plugin, trained and analysed through the CLI's own entry point (in process: the
--plugin option in a real subprocess is tests/test_plugins.py's)."""

import json
import re

from conftest import ROOT
from rnnsweep.cli import main


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_worked_example_task_from_the_docs_runs(tmp_path, monkeypatch, own_analyses):
    doc = (ROOT / "docs" / "plugins.md").read_text()
    task_file = next(b for b in code_blocks(doc, "python") if b.startswith("# delayed_sign.py"))
    sweep_text = next(b for b in code_blocks(doc, "toml") if 'name = "sign_demo"' in b)
    commands = next(b for b in code_blocks(doc, "bash") if "delayed_sign.py" in b)
    assert "rnnsweep --plugin delayed_sign.py run sign_demo.toml" in commands
    (tmp_path / "delayed_sign.py").write_text(task_file)
    # the documented sweep, with a test-sized epoch budget and one block shape (one compiled program)
    test_sized = sweep_text.replace('epochs = "max(100, 10/lr)"', 'epochs = "5"') + "[run]\nmax_padding = 100.0\n"
    (tmp_path / "sign_demo.toml").write_text(test_sized)
    store = tmp_path / "runs" / "sign_demo.zarr"
    monkeypatch.chdir(tmp_path)  # the documented commands, run where the files are
    assert main(["--plugin", "delayed_sign.py", "run", "sign_demo.toml", "--quiet"]) == 0
    assert store.is_dir()
    assert main(["--plugin", "delayed_sign.py", "analyze", str(store), "--n-boot", "0", "--quiet"]) == 0
    summary = json.loads((tmp_path / "runs" / "sign_demo_analysis" / "summary.json").read_text())
    assert summary["analyses"] == ["classes", "learnability", "scaling", "search_phase"]
    assert summary["condition"] == "generic"
    assert sum(summary["class_counts"].values()) == 18
