"""Make a small picture folder (circles, squares, triangles) and train ``tiny_cnn`` on it.

    python examples/own_model/train.py --data /tmp/shapes --out examples/own_model/tiny_cnn.safetensors

writes ``/tmp/shapes/train/<class>/*.png`` and ``/tmp/shapes/test/<class>/*.png`` (32×32 RGB, an
ImageFolder tree) and the trained weights (a safetensors state dict). CPU, a few seconds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
CLASSES = tuple(HERE.joinpath("classes.txt").read_text().split())


def draw(shape: str, rng: np.random.Generator) -> Image.Image:
    """One 32×32 picture of ``shape`` in a random colour, size and place on a random background."""
    back = tuple(int(v) for v in rng.integers(0, 120, 3))
    fore = tuple(int(v) for v in rng.integers(130, 256, 3))
    image = Image.new("RGB", (32, 32), back)
    pen = ImageDraw.Draw(image)
    size = int(rng.integers(10, 22))
    x, y = (int(v) for v in rng.integers(2, 30 - size, 2))
    if shape == "circle":
        pen.ellipse((x, y, x + size, y + size), fill=fore)
    elif shape == "square":
        pen.rectangle((x, y, x + size, y + size), fill=fore)
    else:
        pen.polygon([(x + size // 2, y), (x, y + size), (x + size, y + size)], fill=fore)
    return image


def make_shapes(root: Path, per_class: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for name in CLASSES:
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            draw(name, rng).save(folder / f"{i:04d}.png")


def load_folder(root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for label, name in enumerate(CLASSES):
        for path in sorted((root / name).glob("*.png")):
            xs.append(torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0))
            ys.append(label)
    return torch.stack(xs).permute(0, 3, 1, 2).contiguous(), torch.tensor(ys)


def _factory():  # noqa: ANN202
    """``tiny_cnn.build`` from the file next to this script (as model.toml's factory is found)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("tiny_cnn", HERE / "tiny_cnn.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build


def train(train_dir: Path, out: Path, epochs: int = 15, seed: int = 0) -> float:
    """Train on ``train_dir``, save to ``out``; returns the training accuracy."""
    from safetensors.torch import save_file

    build = _factory()

    torch.manual_seed(seed)
    x, y = load_folder(train_dir)
    x = (x - 0.5) / 0.25  # model.toml: mean 0.5, std 0.25 (REGroup adds this normalisation itself)
    net = build(len(CLASSES))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(y), generator=g).split(32):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        accuracy = float((net(x).argmax(1) == y).float().mean())
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(out))
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder to write train/ and test/ into")
    parser.add_argument("--out", type=Path, default=HERE / "tiny_cnn.safetensors")
    parser.add_argument("--per-class", type=int, default=120)
    args = parser.parse_args()
    make_shapes(args.data / "train", args.per_class, seed=1)
    make_shapes(args.data / "test", max(args.per_class // 4, 10), seed=2)
    accuracy = train(args.data / "train", args.out)
    print(f"wrote {args.out} (training accuracy {accuracy:.3f}) and {args.data}/train, {args.data}/test")


if __name__ == "__main__":
    main()
