"""Image folders and file lists: listing, labels, the seeded class-interleaved draw, lazy reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tiny_folder import CLASSES, gray_preprocess, tiny_bundle, write_folder

from regroup_core.errors import DataError
from regroup_core.run.fit import fit_candidates, fit_statistics
from regroup_core.sources import data as data_module
from regroup_core.sources.data import (
    folder_samples,
    image_files,
    interleaved_order,
    list_samples,
)


def test_folder_samples_map_folders_by_class_name(tmp_path):
    written = write_folder(tmp_path, n=20)
    samples = folder_samples(tmp_path, CLASSES)
    assert sorted((str(p), y) for p, y in samples) == sorted((str(p), y) for p, y in written)
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    assert len(folder_samples(tmp_path, CLASSES)) == 20


def test_folder_with_wrong_number_of_classes_is_an_error(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    with pytest.raises(DataError, match="named like the model.s 4 classes .* or exactly 4 folders"):
        folder_samples(tmp_path, CLASSES)


def test_file_list_paths_labels_and_errors(tmp_path):
    written = write_folder(tmp_path / "imgs", n=8)
    lines = ["# path label", ""] + [f"imgs/{p.parent.name}/{p.name} {y}" for p, y in written[:4]]
    lines += [f"{written[4][0]} {CLASSES[written[4][1]]}"]  # absolute path, class name as label
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(lines) + "\n")
    samples = list_samples(listing, CLASSES)
    assert [(Path(p).resolve(), y) for p, y in samples] == [(p.resolve(), y) for p, y in written[:5]]
    data = image_files(listing, CLASSES, gray_preprocess)
    x, y = data[0]
    assert tuple(x.shape) == (1, 8, 8) and y == written[0][1]
    assert data.labels.tolist() == [y for _, y in written[:5]]
    assert [data.path(i) for i in range(len(data))] == [Path(p) for p, _ in samples]
    listing.write_text("imgs/a/img000.png 7\n")
    with pytest.raises(DataError, match=r"list.txt:1: expected a label in \[0, 4\), got 7"):
        list_samples(listing, CLASSES)
    listing.write_text("imgs/a/img000.png zebra\n")
    with pytest.raises(DataError, match="integer label or a class name"):
        list_samples(listing, CLASSES)
    # int() takes other scripts' digits ('\u0663' is 3) and fails on '\u00b2' or 5000 digits: ASCII only
    for label in ("\u0663", "\uff13", "\u00b2"):
        listing.write_text(f"imgs/a/img000.png {label}\n")
        with pytest.raises(DataError, match="integer label or a class name"):
            list_samples(listing, CLASSES)
    listing.write_text("\ufeffimgs/a/img000.png 1\n", encoding="utf-8")  # a byte-order mark (Notepad)
    assert list_samples(listing, CLASSES) == [(str(tmp_path / "imgs/a/img000.png"), 1)]
    listing.write_text("imgs/a/img000.png " + "9" * 5000 + "\n")
    with pytest.raises(DataError, match=r"expected a label in \[0, 4\)"):
        list_samples(listing, CLASSES)


def test_interleaved_order_is_seeded_round_robin_by_class():
    labels = np.array([0] * 5 + [1] * 2 + [2] * 4)
    order = interleaved_order(labels, seed=3)
    assert sorted(order.tolist()) == list(range(len(labels)))
    assert labels[order].tolist() == [0, 1, 2, 0, 1, 2, 0, 2, 0, 2, 0]
    assert np.array_equal(order, interleaved_order(labels, seed=3))
    assert not np.array_equal(order, interleaved_order(labels, seed=4))
    # a class's own shuffle does not depend on the other classes' files
    more = np.concatenate([labels, [1, 1, 1]])
    firsts = [int(i) for i in interleaved_order(more, seed=3) if more[i] == 0]
    assert firsts == [int(i) for i in order if labels[i] == 0]


def test_fit_draw_reads_only_what_it_needs(tmp_path, monkeypatch):
    write_folder(tmp_path, n=80, seed=1)
    bundle = tiny_bundle()
    opened = []
    real_open = data_module.open_image
    monkeypatch.setattr(data_module, "open_image", lambda p: opened.append(p) or real_open(p))
    candidates = fit_candidates(tmp_path, bundle, seed=0)
    assert opened == []  # listing reads no image
    run = fit_statistics(bundle, candidates, per_class=2, batch_size=4)
    assert run.stats.count.tolist() == [2, 2, 2, 2]
    assert run.images_read == len(opened) < 40  # far from the 80 files
    first_run = list(opened)
    opened.clear()
    again = fit_statistics(bundle, fit_candidates(tmp_path, bundle, seed=0), per_class=2, batch_size=4)
    assert opened == first_run  # same seed: same files, same order
    opened.clear()
    fit_statistics(bundle, fit_candidates(tmp_path, bundle, seed=1), per_class=2, batch_size=4)
    assert opened != first_run
    assert again.stats.count.tolist() == [2, 2, 2, 2]


def test_empty_and_unusable_data_specs_are_refused():
    from regroup_core.sources import load_model, resolve_data

    bundle = load_model("mnist-vgg")
    for spec in ("", "  "):  # Path('') is the current directory: never read it as an ImageFolder
        with pytest.raises(DataError, match="got ''"):
            resolve_data(spec, bundle)
    with pytest.raises(DataError, match="unusable path"):
        resolve_data("/tmp/" + "a" * 5000, bundle)
