"""The README's Python API example runs as written (on a few real test digits)."""

from __future__ import annotations

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_api_example_runs(tmp_path, monkeypatch):
    text = README.read_text()
    section = text[text.index("## Python API"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    from regroup_core.sources.mnist import mnist_split

    images = mnist_split("test").tensors[0][:4]
    monkeypatch.chdir(tmp_path)  # the example writes mnist-vgg.safetensors next to it
    scope = {"images": images}
    exec(compile(code, "README.md (Python API)", "exec"), scope)  # noqa: S102 - our own README
    pred = scope["pred"]
    assert pred.regroup_labels.shape == (4,) and pred.pos_ranks.shape == (4, 8, 10)
    assert torch.equal(pred.borda_at(k=5, variant="neg"), pred.borda_at(5, "neg"))
    assert (tmp_path / "mnist-vgg.safetensors").is_file()
