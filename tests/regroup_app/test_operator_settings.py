"""The operator's settings are read at use (no restart) and spec files load only from the spec folder."""

from __future__ import annotations

import pytest

from regroup_app.services import operator_settings as ops
from regroup_core.errors import ModelError


@pytest.fixture()
def config(tmp_path, monkeypatch):
    path = tmp_path / "app.toml"
    monkeypatch.setenv(ops.CONFIG_ENV, str(path))
    monkeypatch.delenv(ops.DATA_ROOTS_ENV, raising=False)
    monkeypatch.delenv(ops.SPEC_DIR_ENV, raising=False)
    return path


def test_data_roots_and_spec_folder_follow_the_config_file_without_a_restart(config, tmp_path, monkeypatch):
    assert ops.data_roots() == [] and ops.spec_folder() is None
    config.write_text(f'[regroup]\ndata_roots = ["{tmp_path}/a", "{tmp_path}/b"]\nmodel_specs = "{tmp_path}/s"\n')
    assert ops.data_roots() == [tmp_path / "a", tmp_path / "b"] and ops.spec_folder() == tmp_path / "s"
    monkeypatch.setenv(ops.DATA_ROOTS_ENV, str(tmp_path / "c"))  # a variable wins over the file
    assert ops.data_roots() == [tmp_path / "c"]
    config.write_text("[regroup\nbroken")  # a bad edit does not break every page
    assert ops.spec_folder() is None


def test_only_spec_files_in_the_operator_folder_are_accepted(config, tmp_path, monkeypatch):
    folder, outside = tmp_path / "specs", tmp_path / "elsewhere"
    (folder / "mine").mkdir(parents=True)
    outside.mkdir()
    (folder / "a.toml").write_text("")
    (folder / "mine" / "model.toml").write_text("")
    (outside / "model.toml").write_text("")
    (folder / "link.toml").symlink_to(outside / "model.toml")  # a link out of the folder is not in it
    with pytest.raises(ModelError, match="none is configured"):
        ops.check_spec_file(folder / "a.toml")
    monkeypatch.setenv(ops.SPEC_DIR_ENV, str(folder))
    assert ops.spec_files() == [folder / "a.toml", folder / "mine" / "model.toml"]
    assert ops.check_spec_file(str(folder / "mine" / ".." / "a.toml")) == folder / "a.toml"
    for bad in (outside / "model.toml", folder / "link.toml", folder / ".." / "elsewhere" / "model.toml", "\0x"):
        with pytest.raises(ModelError, match="never runs code named by a typed or linked path") as info:
            ops.check_spec_file(bad)
        assert "elsewhere" not in str(info.value)


def test_the_catalogue_offers_every_family_and_refuses_spec_paths_outside_the_folder(config, tmp_path, monkeypatch):
    from regroup_app.services import model_catalog as cat

    assert cat.choices("Embedded") == ("mnist-vgg", "mnist-resnet", "cifar10-resnet18")
    tv = cat.choices("torchvision")
    assert "torchvision:mobilenet_v3_small" in tv and "torchvision:resnet50" in tv and len(tv) >= 80
    assert "timm:convnext_atto" in cat.choices("timm")
    assert "robustbench:cifar10:Linf:Standard" in cat.choices("RobustBench")
    assert cat.choices("Spec files") == ()
    folder = tmp_path / "specs"
    (folder / "mine").mkdir(parents=True)
    (folder / "mine" / "model.toml").write_text("")
    (tmp_path / "evil.toml").write_text("")
    monkeypatch.setenv(ops.SPEC_DIR_ENV, str(folder))
    assert cat.choices("Spec files") == (f"spec:{folder / 'mine' / 'model.toml'}",)
    assert cat.app_reference(f"spec:{folder / 'mine'}") == f"spec:{folder / 'mine' / 'model.toml'}"
    assert cat.shown_reference(cat.choices("Spec files")[0]) == "spec:mine/model.toml"
    assert cat.family_of("torchvision:resnet50") == "torchvision" and cat.family_of("resnet50") == "torchvision"
    for bad in (str(tmp_path / "evil.toml"), f"spec:{tmp_path / 'evil.toml'}"):
        with pytest.raises(ModelError, match="never runs code"):
            cat.app_reference(bad)
    assert cat.app_reference("timm:convnext_atto") == "timm:convnext_atto"
