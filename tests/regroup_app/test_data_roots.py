"""The Model page reads fit data only under the configured data roots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from regroup_app.launch import app_environment, config_flags
from regroup_app.services.data_roots import check_data_spec, check_files
from regroup_core.errors import DataError
from regroup_core.sources import load_model, resolve_data
from apptest_helpers import start


def _folder(root: Path) -> Path:
    from PIL import Image

    for c in range(10):
        (root / str(c)).mkdir(parents=True)
        Image.new("L", (28, 28), 3 * c).save(root / str(c) / "a.png")
    return root


def test_builtin_splits_need_no_root_and_paths_need_one(tmp_path, monkeypatch):
    monkeypatch.delenv("REGROUP_DATA_ROOTS", raising=False)
    assert check_data_spec(" mnist:train ") == "mnist:train"
    with pytest.raises(DataError, match="none is configured.*REGROUP_DATA_ROOTS"):
        check_data_spec("/")
    with pytest.raises(DataError, match="got nothing"):
        check_data_spec("  ")
    data = _folder(tmp_path / "data")
    monkeypatch.setenv("REGROUP_DATA_ROOTS", os.pathsep.join([str(tmp_path / "data"), str(tmp_path / "other")]))
    assert check_data_spec(str(data / "0")) == str(data / "0")
    for outside in ("/", "/etc", str(data / ".." / ".."), str(tmp_path)):
        with pytest.raises(DataError, match="under the data roots"):
            check_data_spec(outside)


def test_symlinks_and_file_list_entries_must_stay_inside(tmp_path, monkeypatch):
    data = _folder(tmp_path / "data")
    secret = tmp_path / "secret.png"
    secret.write_bytes((data / "0" / "a.png").read_bytes())
    (data / "1" / "b.png").symlink_to(secret)
    monkeypatch.setenv("REGROUP_DATA_ROOTS", str(data))
    bundle = load_model("mnist-vgg")
    with pytest.raises(DataError, match="secret.png"):
        check_files(resolve_data(str(data), bundle))
    (data / "1" / "b.png").unlink()
    check_files(resolve_data(str(data), bundle))
    listing = data / "list.txt"
    listing.write_text(f"0/a.png 0\n{secret} 1\n")
    with pytest.raises(DataError, match="secret.png"):
        check_files(resolve_data(str(listing), bundle))


def test_model_page_refuses_a_folder_outside_the_roots(tmp_path, monkeypatch):
    monkeypatch.setenv("REGROUP_DATA_ROOTS", str(tmp_path / "allowed"))
    at = start("model")
    at.radio(key="classifier-source").set_value("Fit now").run()
    at.text_input(key="fit-data").set_value("/").run()
    at.button(key="fit-button").click().run()
    assert not at.exception
    assert any("under the data roots" in e.value for e in at.error), [e.value for e in at.error]


def test_launcher_exports_the_config_roots_unless_the_environment_sets_them(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[server]\nport = 8501\n[regroup]\ndata_roots = ["/data/a", "~/b"]\n')
    assert config_flags(cfg) == {"server.port": "8501"}  # not passed to Streamlit
    env = app_environment(cfg, environ={})
    assert env["REGROUP_DATA_ROOTS"].split(os.pathsep) == ["/data/a", str(Path("~/b").expanduser())]
    assert app_environment(cfg, environ={"REGROUP_DATA_ROOTS": "/x"}) == {}


@pytest.mark.parametrize("text", ["x\x00y.pth", "~no-such-user-here/x.pth", "a" * 5000 + ".pth",
                                  "a/" * 3000 + "x.pth"])
def test_paths_the_os_cannot_take_are_one_line_errors(tmp_path, monkeypatch, text):
    from regroup_app.services.weights import check_server_path
    from regroup_core.errors import RegroupError

    monkeypatch.setenv("REGROUP_DATA_ROOTS", str(tmp_path))
    path = text if text.startswith("~") else f"{tmp_path}/{text}"
    with pytest.raises(RegroupError, match="usable path|outside|only under|no such file"):
        check_server_path(path)
    with pytest.raises(DataError):
        check_data_spec(path) if "\x00" in path or path.startswith("~") else resolve_data(path, load_model("mnist-vgg"))
