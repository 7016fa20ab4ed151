"""Several sessions at once: the cached, shared model and classifiers give each session the
result of its own image, and one session's state never shows up in another's."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch

from regroup_app.services import cache
from regroup_app.services.attacking import attack_image
from regroup_app.state import AttackChoice, ModelChoice
from regroup_core.sources.mnist import mnist_split
from apptest_helpers import start


def test_concurrent_predictions_on_the_shared_cached_model_are_unmixed():
    defended = cache.defended_model(ModelChoice())
    x, _ = mnist_split("test").tensors
    images = [x[i:i + 1] for i in range(0, 200, 10)]
    expected = [defended.predict(im, scope="all") for im in images]

    def job(i: int):
        return i, defended.predict(images[i], scope="all")

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(job, [i % len(images) for i in range(4 * len(images))]))
    for i, pred in results:
        assert torch.equal(pred.pos_ranks, expected[i].pos_ranks)
        assert torch.equal(pred.neg_ranks, expected[i].neg_ranks)
        assert torch.equal(pred.logits, expected[i].logits)


def test_two_sessions_keep_their_own_image_and_model():
    a = start("attack_lab")
    b = start("attack_lab")
    b.select_slider(key="gallery-idx-Model's test set").set_value(5).run()
    assert a.session_state["current_image"] != b.session_state["current_image"]
    b.switch_page("app_pages/model.py").run()
    b.selectbox(key="model-name").set_value("mnist-resnet").run()
    a.switch_page("app_pages/layer_ranks.py").run()
    assert a.session_state["model_choice"].name == "mnist-vgg"
    assert b.session_state["model_choice"].name == "mnist-resnet"
    assert not a.exception and not b.exception


def _attack_like_a_session(idx: int):
    """What the Attack lab runs for a session that attacks gallery digit ``idx`` (PGD, ε = 32)."""
    from regroup_app.services import gallery

    item = gallery.gallery("Model's test set", "mnist-vgg")[idx]
    x = cache.model_bundle("mnist-vgg", None).preprocess(item.image).numpy()
    return attack_image(ModelChoice(), x, item.label, AttackChoice("pgd", "transfer", 32.0, 40, None, 0))


def test_eight_concurrent_sessions_attack_like_eight_serial_ones(tmp_path, monkeypatch):
    """Sessions are threads of one server sharing the cached model: 8 attacking at once get what
    8 serial runs get. (AppTest cannot run sessions concurrently — it owns a process-wide runtime
    — so this runs the pages' own compute path; tests/regroup_app/test_browser_sessions.py drives 8 real
    browser sessions against one server.)"""
    monkeypatch.setenv("REGROUP_CACHE", str(tmp_path / "parallel"))  # nothing cached: every session computes
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(_attack_like_a_session, range(8)))
    monkeypatch.setenv("REGROUP_CACHE", str(tmp_path / "serial"))
    serial = [_attack_like_a_session(i) for i in range(8)]
    assert [torch.equal(p.adversarial, s.adversarial) for p, s in zip(parallel, serial)] == [True] * 8
    assert len({p.adversarial.numpy().tobytes() for p in parallel}) == 8  # eight images, eight results
