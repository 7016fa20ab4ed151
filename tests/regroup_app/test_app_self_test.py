"""Self-test page: the binarization test of attacks on a few images, run on a click (or by a link within
the link cap), its step named while it runs, PASS / WEAK per attack and budget, what WEAK means."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from apptest_helpers import ENTRY, assert_clean, rendered, start


def _open(params: dict, timeout: int = 300) -> AppTest:
    at = AppTest.from_file(ENTRY, default_timeout=timeout)
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page("app_pages/self_test.py")
    return at.run()


def _verdicts(at) -> str:
    return rendered(" ".join(m.value for m in at.markdown))


def test_page_explains_and_waits_for_a_click():
    at = start("self_test")
    assert_clean(at)
    text = _verdicts(at)
    assert "known* to exist" in text and "Zimmermann" in text
    assert at.button(key="selftest-run").label == "Run the self-test (1 attack × budget run(s) on 5 image(s))"
    assert any("python -m regroup_core selftest --model mnist-vgg --classifier "
               "regroup_core/assets/classifiers/mnist-vgg.safetensors --attacks pgd --epsilons 44 --n 5 --seed 0"
               in c.value for c in at.code)
    source = " ".join(m.value for m in at.markdown)
    assert not at.dataframe and "-badge[" not in source  # nothing ran


def test_the_weakened_attack_is_weak_and_the_plan_passes():
    at = start("self_test")
    at.number_input(key="selftest-steps").set_value(1).run()
    at.button(key="selftest-run").click().run(timeout=300)
    assert_clean(at)
    text = _verdicts(at)
    assert ":red-badge[WEAK] **pgd (steps=1)** at ε = 44/255: found 2 of 5 known adversarials (40 %)" in text
    table = at.dataframe[0].value
    assert list(table["verdict"]) == ["WEAK"] and list(table["found / tasks"]) == ["2 / 5"]
    assert "overstate* REGroup's robustness" in text
    at.number_input(key="selftest-steps").set_value(0).run()
    at.button(key="selftest-run").click().run(timeout=300)
    assert_clean(at)
    assert list(at.dataframe[0].value["verdict"]) == ["PASS"]
    assert ":green-badge[PASS] **pgd** at ε = 44/255: found 5 of 5" in _verdicts(at)


def test_a_link_runs_it_within_the_cap_and_the_result_is_stored():
    params = {"model": "mnist-vgg", "attacks": "pgd", "epsilons": "44", "n": "5", "steps": "1", "run": "1"}
    at = _open(params)
    assert_clean(at)
    assert list(at.dataframe[0].value["verdict"]) == ["WEAK"]
    again = _open({k: v for k, v in params.items() if k != "run"}, timeout=30)  # stored: no work, no click
    assert list(again.dataframe[0].value["verdict"]) == ["WEAK"]
    assert not [b for b in again.button if b.key == "selftest-run"]


def test_a_link_over_the_cap_waits_for_a_click():
    for over in ({"n": "50"}, {"attacks": "square"}):
        at = _open({"model": "mnist-vgg", "attacks": "pgd", "epsilons": "44", "n": "5", "run": "1", **over},
                   timeout=60)
        assert not at.exception and not at.dataframe
        notes = " ".join(w.value for w in at.warning)
        assert "press Run the self\\-test to start it" in notes or "press Run the self-test" in rendered(notes), notes
        assert at.button(key="selftest-run")


def test_no_attack_chosen_is_a_warning():
    at = start("self_test")
    at.multiselect(key="selftest-attacks").set_value([]).run()
    assert not at.exception
    assert any("Choose at least one attack" in w.value for w in at.warning)


def test_image_by_image_gives_the_clis_numbers():
    """The page's streamed run equals ``run_selftest`` (what ``python -m regroup_core selftest`` calls) on the
    same images, budgets and steps, but for the seconds; and it names each image's step."""
    from regroup_app.services.attack_checks import SelfTestRequest, run_selftest_streamed
    from regroup_core import load_defended, load_model
    from regroup_core.attacks.selftest import run_selftest
    from regroup_core.experiments import select_correct
    from regroup_core.sources.assets import shipped_classifier

    bundle = load_model("mnist-vgg")
    defended = load_defended(bundle, shipped_classifier("mnist-vgg"))
    steps, rows = [], []
    streamed = run_selftest_streamed(bundle, defended, SelfTestRequest(("pgd",), (32.0, 44.0), 4, steps=1),
                                     lambda d, t, m: steps.append(m), rows.append)
    test = select_correct(bundle, bundle.spec.test_data, 4, seed=0, defended=defended)
    batch = run_selftest(bundle, defended, test.images, test.labels, attacks=["pgd"], epsilons_255=[32.0, 44.0],
                         steps=1, keys=[str(i) for i in test.ids])
    def without_seconds(result: list) -> list[dict]:
        return [{k: v for k, v in r.as_dict().items() if k != "seconds"} for r in result]

    assert without_seconds(streamed) == without_seconds(batch)
    assert rows == streamed and len(rows) == 2
    assert "pgd (steps=1) at ε 44/255, image 4 of 4: planting a known adversarial, then attacking" in steps
