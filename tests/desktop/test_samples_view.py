"""The Samples tab as a person uses it: answers arrive while the run trains (written by another
process's scheduler and seen through the change feed, or by the app's own and brought by its
event), the slider follows the latest evaluation, a drag back shows an earlier one and stays
there, and what changed is marked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox, QSlider, QStyle, QStyleOptionSlider

from core.datasets.catalog import add_dataset
from core.jobs.service import create_job, get_job
from core.scheduler import Scheduler
from desktop.sample_diff import ADDED_STYLE, word_changes
from desktop.samples_view import NO_SAMPLES
from tests.desktop.windows import open_on_fake_cluster
from tests.fakes.cluster import JobPlan


@pytest.fixture
def loop():
    """One event loop for the test's own scheduler cycles (its cluster client lives on it)."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def workspace(home: Path, fake_cluster, loop):
    ws = open_on_fake_cluster(fake_cluster, home=str(home))
    yield ws
    loop.run_until_complete(ws.aclose())
    ws.close()


@pytest.fixture
def elsewhere(home: Path, fake_cluster, loop):
    """A second workspace on the same database, as another process has: the window hears none of
    its events."""
    ws = open_on_fake_cluster(fake_cluster, home=str(home))
    yield ws
    loop.run_until_complete(ws.aclose())
    ws.close()


def open_samples_tab(qtbot, widget):
    bar = widget.monitor.tabs.tabBar()
    (index,) = [i for i in range(bar.count()) if bar.tabText(i) == "Samples"]
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(index).center())
    view = widget.monitor.samples_view
    assert widget.monitor.tabs.currentWidget() is view
    return view


def drag_slider(slider: QSlider, value: int) -> None:
    """Press on the handle, move to where `value` sits on the groove, release: a person's drag."""
    option = QStyleOptionSlider()
    slider.initStyleOption(option)
    style = slider.style()
    handle = style.subControlRect(
        QStyle.ComplexControl.CC_Slider, option, QStyle.SubControl.SC_SliderHandle, slider
    )
    groove = style.subControlRect(
        QStyle.ComplexControl.CC_Slider, option, QStyle.SubControl.SC_SliderGroove, slider
    )
    span = groove.width() - handle.width()
    offset = QStyle.sliderPositionFromValue(slider.minimum(), slider.maximum(), value, span)
    target = QPoint(groove.x() + offset + handle.width() // 2, handle.center().y())
    QTest.mousePress(slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, handle.center())
    QTest.mouseMove(slider, target)
    QTest.mouseRelease(slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, target)


def test_answers_follow_the_run_and_the_slider_shows_earlier_ones(
    window, workspace, elsewhere, dataset_file, fake_cluster, qtbot, loop
):
    widget, session = window
    dataset = add_dataset(workspace, file=dataset_file, name="pairs")
    job = create_job(workspace, dataset_id=dataset.id, name="learning to add", gpu_type="T4")
    fake_cluster.plan_job(job.id, JobPlan(total_steps=100, steps_per_poll=0, sample_every=10))
    other = Scheduler(elsewhere)  # another process's scheduler: nothing reaches the window by event

    def cycle(steps: int = 0) -> None:
        external = get_job(workspace, job_id=job.id).job.external_job_id
        if external and steps:
            fake_cluster.advance(external, steps)
        loop.run_until_complete(other.run_once())

    cycle()
    with qtbot.waitSignal(widget.loaded, timeout=5000):
        widget.attach(session)
    with qtbot.waitSignal(widget.detail_shown, timeout=5000):
        widget.select_job(job.id)
    view = open_samples_tab(qtbot, widget)
    qtbot.waitUntil(lambda: view.empty.isVisible(), timeout=5000)
    assert view.empty.text() == NO_SAMPLES

    cycle(10)
    qtbot.waitUntil(lambda: view.step_label.text() == "step 10 · evaluation 1 of 1 (latest)", timeout=5000)
    first, second = view.rows[0], view.rows[1]
    assert first.prompt.text() == "#1  prompt 0" and first.expected.text() == "Expected: expected 0"
    assert first.answer_text == "answer 0 at step 10" and first.change.text() == "First evaluation"
    assert second.answer_text == "answer 1 at step 10"

    cycle(10)
    qtbot.waitUntil(lambda: view.step_label.text() == "step 20 · evaluation 2 of 2 (latest)", timeout=5000)
    assert first.answer_text == "answer 0 at step 20"
    assert first.change.text() == "Changed since step 10 (new words highlighted)"
    assert f'<span style="{ADDED_STYLE}">20</span>' in first.answer.text()

    drag_slider(view.slider, 0)
    assert view.step_label.text() == "step 10 · evaluation 1 of 2"
    assert first.answer_text == "answer 0 at step 10" and not view.follow

    cycle(10)  # a new evaluation does not move a slider the person moved back
    qtbot.waitUntil(lambda: view.step_label.text() == "step 10 · evaluation 1 of 3", timeout=5000)
    assert first.answer_text == "answer 0 at step 10"

    drag_slider(view.slider, 2)  # back at the end: following again
    assert view.step_label.text() == "step 30 · evaluation 3 of 3 (latest)"
    cycle(10)
    qtbot.waitUntil(lambda: view.step_label.text() == "step 40 · evaluation 4 of 4 (latest)", timeout=5000)
    assert first.answer_text == "answer 0 at step 40"


def test_a_new_answer_of_the_apps_own_scheduler_appears_in_the_tab_by_its_event(
    window, workspace, dataset_file, fake_cluster, qtbot, loop
):
    from tests.desktop.test_selection import click_row

    widget, session = window
    dataset = add_dataset(workspace, file=dataset_file, name="pairs")
    job = create_job(workspace, dataset_id=dataset.id, name="learning to add", gpu_type="T4")
    fake_cluster.plan_job(job.id, JobPlan(total_steps=100, steps_per_poll=0, sample_every=10))
    scheduler = Scheduler(workspace)  # the window's own workspace: what it writes, it publishes
    loop.run_until_complete(scheduler.run_once())
    with qtbot.waitSignal(widget.loaded, timeout=5000):
        widget.attach(session, live=False)  # no change feed: only the event can bring the answer
    click_row(qtbot, widget, job.id)  # waits until its points are drawn
    view = open_samples_tab(qtbot, widget)
    qtbot.waitUntil(lambda: session.runner.in_flight == 0, timeout=5000)  # the read on selecting: none
    assert view.empty.isVisible() and view.empty.text() == NO_SAMPLES

    fake_cluster.advance(get_job(workspace, job_id=job.id).job.external_job_id, 10)
    loop.run_until_complete(scheduler.run_once())
    qtbot.waitUntil(lambda: view.step_label.text() == "step 10 · evaluation 1 of 1 (latest)", timeout=5000)
    first = view.rows[0]
    assert first.isVisible() and not view.empty.isVisible()
    assert first.answer_text == "answer 0 at step 10" and first.change.text() == "First evaluation"


def test_word_changes_mark_what_the_new_answer_added_and_dropped():
    runs = word_changes("The sum is 5.", "The sum is 4, surely.")
    assert runs == [("same", "The sum is "), ("removed", "5."), ("added", "4, surely.")]
    assert word_changes("same words", "same words") == [("same", "same words")]


def test_compare_sets_each_runs_answer_to_the_same_prompt_side_by_side(
    window, workspace, dataset_file, fake_cluster, qtbot, loop
):
    from tests.desktop.test_compare import ctrl_click_row
    from tests.desktop.test_selection import click_row

    widget, session = window
    dataset = add_dataset(workspace, file=dataset_file, name="pairs")
    plans = {
        "rank 8": JobPlan(
            total_steps=20, steps_per_poll=20, sample_every=10, sample_output="{step}: maybe {prompt}"
        ),
        "rank 16": JobPlan(
            total_steps=30, steps_per_poll=30, sample_every=10, sample_output="{step}: sure {prompt}"
        ),
    }
    ids = {}
    for name, plan in plans.items():
        ids[name] = create_job(workspace, dataset_id=dataset.id, name=name, gpu_type="T4").id
        fake_cluster.plan_job(ids[name], plan)
    scheduler = Scheduler(workspace)
    for _ in range(3):
        loop.run_until_complete(scheduler.run_once())
    with qtbot.waitSignal(widget.loaded, timeout=5000):
        widget.attach(session, live=False)
    click_row(qtbot, widget, ids["rank 8"])
    with qtbot.waitSignal(widget.compare.loaded, timeout=5000):
        ctrl_click_row(widget, ids["rank 16"])
    compare = widget.compare
    bar = compare.tabs.tabBar()
    qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(1).center())
    assert compare.tabs.currentWidget() is compare.samples and compare.samples.scroll_area.isVisible()
    samples = compare.samples

    assert samples.prompt_labels[0].text() == "#1  prompt 0\nExpected: expected 0"
    assert samples.cells[(0, ids["rank 8"])].text() == "20: maybe 0"  # each at its latest step
    assert samples.cells[(0, ids["rank 16"])].text() == "30: sure 0"
    assert samples.cells[(1, ids["rank 16"])].text() == "30: sure 1"
    shown_boxes = [b for b in samples.findChildren(QComboBox) if b.isVisible()]
    assert len(shown_boxes) == 2  # one per run: none left over from an earlier load
    box = samples.step_boxes[ids["rank 16"]]
    assert [box.itemText(i) for i in range(box.count())] == [
        "latest (step 30)",
        "step 30",
        "step 20",
        "step 10",
    ]

    box.setFocus()
    for _ in range(2):  # down to "step 20": that run's answers as they were then
        QTest.keyClick(box, Qt.Key.Key_Down)
    assert box.currentText() == "step 20"
    assert samples.cells[(0, ids["rank 16"])].text() == "20: sure 0"
    assert samples.cells[(0, ids["rank 8"])].text() == "20: maybe 0"
