"""Torch threads across sessions: torch's count is process-wide, so long calls (fits, benchmark
tables) and page runs share it through one arbiter: the last long call to end puts the app's cap
back, whatever order the sessions' calls end in, and a page run never cuts a fit short."""

from __future__ import annotations

import threading

import torch

from regroup_app.services.threads import all_cores, configure_threads


def test_interleaved_long_calls_leave_the_interactive_cap(monkeypatch):
    """A enters, B enters, A leaves, B leaves. With a save/restore per call B restored A's count
    and left the process at every core for good; here the cap is back once both ended."""
    monkeypatch.setenv("REGROUP_APP_THREADS", "1")
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    cap = configure_threads()
    steps = [threading.Event() for _ in range(3)]
    seen: dict[str, int] = {}

    def a() -> None:
        with all_cores():
            steps[0].set()
            steps[1].wait(10)
        seen["B still running"] = torch.get_num_threads()
        steps[2].set()

    def b() -> None:
        steps[0].wait(10)
        with all_cores():
            steps[1].set()
            steps[2].wait(10)

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert cap == 1 and seen == {"B still running": 2}
    assert torch.get_num_threads() == 1


def test_a_page_run_does_not_cut_a_running_fit_short(monkeypatch):
    monkeypatch.setenv("REGROUP_APP_THREADS", "1")
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    configure_threads()
    with all_cores() as threads:
        configure_threads()  # another session's page run starts meanwhile
        assert threads == 2 and torch.get_num_threads() == 2
    assert torch.get_num_threads() == 1
