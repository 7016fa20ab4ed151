"""`python -m app`: streamlit_config.toml becomes --section.key=value flags; user flags win."""

from __future__ import annotations

import os
import sys

from regroup_app.launch import CONFIG, ENTRY, build_command, config_flags, launch_env


def test_repository_config_is_local_and_private():
    flags = config_flags(CONFIG)
    assert flags["server.address"] in ("127.0.0.1", "localhost")
    assert flags["browser.gatherUsageStats"] == "false"
    assert flags["server.headless"] == "true"
    assert int(flags["server.maxUploadSize"]) >= 600  # real checkpoints (VGG-19: 548 MB) can be uploaded


def test_upload_limits_agree_with_the_config():
    from regroup_app.services.uploads import IMAGE_MAX_MB, MAX_UPLOAD_MB

    assert int(config_flags(CONFIG)["server.maxUploadSize"]) == MAX_UPLOAD_MB
    assert IMAGE_MAX_MB <= 25  # images are refused long before weights would be


def test_build_command_passes_user_flags_and_user_wins(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[server]\nport = 8501\naddress = "127.0.0.1"\n[theme]\nbase = "dark"\n[client]\nflag = true\n')
    cmd = build_command(["--server.port", "8600", "--theme.base=light", "--logger.level=debug"], cfg)
    assert cmd[:5] == [sys.executable, "-m", "streamlit", "run", str(ENTRY)]
    rest = cmd[5:]
    assert "--server.address=127.0.0.1" in rest and "--client.flag=true" in rest
    assert "--server.port=8501" not in rest and "--theme.base=dark" not in rest  # overridden by the user
    assert rest[-4:] == ["--server.port", "8600", "--theme.base=light", "--logger.level=debug"]


def test_missing_config_gives_no_flags(tmp_path):
    assert config_flags(tmp_path / "none.toml") == {}
    assert build_command([], tmp_path / "none.toml")[5:] == []


def test_launch_env_makes_openmp_wait_passively_unless_the_user_chose():
    assert launch_env({"PATH": "/bin"}) == {"PATH": "/bin", "OMP_WAIT_POLICY": "PASSIVE"}
    assert launch_env({"OMP_WAIT_POLICY": "ACTIVE"})["OMP_WAIT_POLICY"] == "ACTIVE"


def test_main_runs_streamlit_in_this_process_with_the_packaged_config(monkeypatch):
    import streamlit.web.cli

    from regroup_app import launch

    seen = {}

    def fake_main(prog_name):
        seen.update(prog=prog_name, argv=list(sys.argv), omp=os.environ.get("OMP_WAIT_POLICY"))
        return 0

    monkeypatch.setattr(streamlit.web.cli, "main", fake_main)
    monkeypatch.setattr(sys, "argv", ["regroup-explorer"])
    monkeypatch.setenv("OMP_WAIT_POLICY", "")  # recorded, so that what main() sets is undone afterwards
    monkeypatch.delenv("OMP_WAIT_POLICY")
    assert launch.main(["--server.port", "8600"]) == 0
    assert seen["argv"][:3] == ["streamlit", "run", str(ENTRY)] and seen["prog"] == "streamlit"
    assert "--server.headless=true" in seen["argv"] and seen["argv"][-2:] == ["--server.port", "8600"]
    assert seen["omp"] == "PASSIVE" and ENTRY.is_file() and CONFIG.is_file()
