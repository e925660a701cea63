"""The overfitting detector on synthetic curves."""

from __future__ import annotations

from tunesdk.evaluation import OverfitTracker, detect_overfitting
from tunesdk.evaluation.overfitting import eval_points
from tunesdk.events import Evaluation, Event, Progress


def curve(train: list[float], evals: dict[int, float]) -> list[Event]:
    """Progress at steps 1..len(train), Evaluation after the given steps, in run order."""
    events: list[Event] = []
    for step, loss in enumerate(train, start=1):
        events.append(Progress(step=step, train_loss=loss))
        if step in evals:
            events.append(Evaluation(step=step, eval_loss=evals[step]))
    return events


FALLING_TRAIN = [2.0 - 0.015 * i for i in range(100)]  # 2.0 → 0.515, always falling


def test_eval_rising_while_train_falls_is_overfitting_from_the_best_step() -> None:
    evals = {20: 1.60, 40: 1.40, 60: 1.45, 80: 1.55, 100: 1.70}
    warning = detect_overfitting(curve(FALLING_TRAIN, evals))
    assert warning is not None
    assert warning.step == 40  # the best eval: where overfitting began
    assert warning.detected_step == 80  # second consecutive rise, 10.7 % above the best
    assert warning.best_eval_loss == 1.40 and warning.eval_loss == 1.55
    assert warning.train_loss_end < warning.train_loss_start
    assert "step 40" in warning.message and "overfitting" in warning.message


def test_noisy_but_improving_eval_loss_is_fine() -> None:
    evals = {10: 1.9, 20: 1.75, 30: 1.78, 40: 1.65, 50: 1.67, 60: 1.58, 70: 1.60, 80: 1.52}
    assert detect_overfitting(curve(FALLING_TRAIN[:80], evals)) is None


def test_two_rises_within_the_margin_are_a_plateau_not_overfitting() -> None:
    evals = {20: 1.50, 40: 1.40, 60: 1.405, 80: 1.41}  # +0.7 % < 2 %
    assert detect_overfitting(curve(FALLING_TRAIN[:80], evals)) is None
    assert detect_overfitting(curve(FALLING_TRAIN[:80], evals), min_rise=0.005) is not None


def test_too_few_evaluations_cannot_tell() -> None:
    assert detect_overfitting(curve(FALLING_TRAIN[:40], {20: 1.4, 40: 1.6})) is None
    assert detect_overfitting(curve(FALLING_TRAIN[:10], {})) is None
    assert detect_overfitting([]) is None


def test_eval_and_train_rising_together_is_divergence_not_overfitting() -> None:
    rising_train = [1.0 + 0.01 * i for i in range(80)]
    evals = {20: 1.3, 40: 1.2, 60: 1.3, 80: 1.5}
    assert detect_overfitting(curve(rising_train, evals)) is None


def test_one_rise_is_not_enough_with_default_patience() -> None:
    evals = {20: 1.5, 40: 1.4, 60: 1.3, 80: 1.6}
    assert detect_overfitting(curve(FALLING_TRAIN[:80], evals)) is None
    warning = detect_overfitting(curve(FALLING_TRAIN[:80], evals), patience=1)
    assert warning is not None and warning.step == 60


def test_eval_points_pair_each_evaluation_with_the_mean_train_loss_before_it() -> None:
    events = curve([4.0, 2.0, 1.0, 1.0], {2: 3.0, 4: 2.5})
    points = eval_points(events)
    assert [(p.step, p.eval_loss, p.train_loss) for p in points] == [(2, 3.0, 3.0), (4, 2.5, 1.0)]


def test_the_incremental_tracker_survives_a_state_round_trip_and_warns_once() -> None:
    evals = {20: 1.60, 40: 1.40, 60: 1.45, 80: 1.55, 100: 1.70}
    state: dict | None = None
    warnings = []
    for event in curve(FALLING_TRAIN, evals):
        tracker = OverfitTracker(state, keep_points=False)  # rebuilt per event, as the store does
        found = tracker.observe(event)
        state = tracker.to_state()
        if found is not None:
            assert isinstance(event, Evaluation)
            warnings.append((event.step, found.step))
    assert warnings == [(80, 40)]
    assert state is not None and len(state["recent"]) == 3  # O(patience), not the whole run
