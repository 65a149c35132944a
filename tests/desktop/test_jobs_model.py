"""The job table model: in-place updates, inserts, sort, filter, selection kept."""

from __future__ import annotations

from datetime import timedelta

from PySide6.QtCore import QItemSelectionModel, Qt

from core.records import JobStatus
from desktop import formatting as fmt
from desktop.jobs_model import JOB_ROLE, Column, JobFilterProxy, JobTableModel
from tests.desktop.factories import bump, make_job


def filled(count: int = 10) -> tuple[JobTableModel, JobFilterProxy]:
    model = JobTableModel()
    model.set_jobs(make_job(n) for n in range(count))
    proxy = JobFilterProxy()
    proxy.setSourceModel(model)
    return model, proxy


def names(proxy: JobFilterProxy) -> list[str]:
    return [proxy.index(row, 0).data() for row in range(proxy.rowCount())]


def test_rows_show_the_job_fields_newest_first():
    model, _ = filled(3)
    assert model.rowCount() == 3
    assert model.index(0, Column.NAME).data() == "run 2"
    assert model.index(0, Column.STATUS).data() == "Running"
    assert model.index(0, Column.PROGRESS).data() == "40%"
    assert model.index(0, Column.GPU).data() == "A100-80GB × 1"
    assert model.index(0, Column.COST).data() == "$1.25"
    assert model.index(0, Column.LOSS).data() == "0.3333"
    assert model.index(0, 0).data(JOB_ROLE).id == "job-000002"


def test_update_emits_data_changed_for_that_row_only(qtbot):
    model, _ = filled(10)
    job = model.job("job-000004")
    row = model.row_of(job.id)
    with (
        qtbot.assertNotEmitted(model.modelReset),
        qtbot.assertNotEmitted(model.layoutChanged),
        qtbot.assertNotEmitted(model.rowsInserted),
        qtbot.waitSignal(model.dataChanged) as signal,
    ):
        model.apply_jobs([bump(job, progress=75.0)])
    top, bottom = signal.args[0], signal.args[1]
    assert top.row() == bottom.row() == row
    assert top.column() <= Column.PROGRESS <= bottom.column()
    assert bottom.column() < Column.CREATED  # cells made from unchanged fields are left alone
    assert model.index(row, Column.PROGRESS).data() == "75%"


def test_unchanged_or_older_snapshot_changes_nothing(qtbot):
    model, _ = filled(5)
    job = model.job("job-000001")
    newer = bump(job, progress=90.0)
    model.apply_jobs([newer])
    with qtbot.assertNotEmitted(model.dataChanged):
        model.apply_jobs([newer, job])  # the same record again, then an older one arriving late
    assert model.job(job.id).progress == 90.0


def test_new_job_is_inserted_at_its_sorted_place(qtbot):
    model, _ = filled(5)
    with qtbot.assertNotEmitted(model.modelReset), qtbot.waitSignal(model.rowsInserted) as signal:
        model.apply_jobs([make_job(99)])
    assert signal.args[1] == signal.args[2] == 0  # newest first
    assert model.rowCount() == 6
    assert model.row_of("job-000099") == 0
    assert model.row_of("job-000004") == 1


def test_sort_on_a_column_and_back(qtbot):
    model, proxy = filled(5)
    proxy.sort(Column.NAME, Qt.SortOrder.AscendingOrder)
    assert names(proxy) == ["run 0", "run 1", "run 2", "run 3", "run 4"]
    proxy.sort(Column.LOSS, Qt.SortOrder.DescendingOrder)
    assert names(proxy)[0] == "run 0"  # the highest loss, 1/1
    model.apply_jobs([make_job(7, name="aaa")])
    proxy.sort(Column.NAME, Qt.SortOrder.AscendingOrder)
    assert names(proxy)[0] == "aaa"


def test_status_filter_and_text_search():
    model, proxy = filled(6)
    model.apply_jobs([bump(model.job("job-000002"), status=JobStatus.FAILED, error_message="oom")])
    proxy.set_statuses({JobStatus.FAILED})
    assert names(proxy) == ["run 2"]
    proxy.set_statuses(None)
    proxy.set_text("RUN 5")
    assert names(proxy) == ["run 5"]
    proxy.set_text("job-00000")
    assert len(names(proxy)) == 6
    proxy.set_text("")
    assert proxy.rowCount() == 6


def test_filter_follows_live_updates():
    model, proxy = filled(4)
    proxy.set_statuses({JobStatus.RUNNING})
    assert proxy.rowCount() == 4
    model.apply_jobs([bump(model.job("job-000001"), status=JobStatus.COMPLETED)])
    assert "run 1" not in names(proxy)


def test_selection_is_kept_across_updates_inserts_and_sort(qtbot):
    model, proxy = filled(20)
    selection = QItemSelectionModel(proxy)
    target = proxy.index_of("job-000007")
    flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
    selection.setCurrentIndex(target, flags)

    model.apply_jobs([bump(model.job(f"job-{n:06d}"), progress=99.0) for n in range(20)])
    model.apply_jobs([make_job(n) for n in range(100, 110)])
    proxy.sort(Column.NAME, Qt.SortOrder.AscendingOrder)

    selected = selection.selectedRows()
    assert len(selected) == 1
    assert selected[0].data(JOB_ROLE).id == "job-000007"
    assert selection.currentIndex().data(JOB_ROLE).id == "job-000007"


def test_elapsed_and_eta_are_read_at_paint_time(monkeypatch):
    model = JobTableModel()
    job = make_job(0, progress=25.0, current_step=250, total_steps=1000)
    model.set_jobs([job, make_job(1, status=JobStatus.QUEUED)])
    row = model.row_of(job.id)
    monkeypatch.setattr(fmt, "now", lambda: job.started_at + timedelta(minutes=10))
    assert model.index(row, Column.ELAPSED).data() == "10m 00s"
    assert model.index(row, Column.ETA).data() == "30m 00s"
    monkeypatch.setattr(fmt, "now", lambda: job.started_at + timedelta(minutes=20))
    assert model.index(row, Column.ELAPSED).data() == "20m 00s"
    assert model.index(model.row_of("job-000001"), Column.ETA).data() == "—"


def test_cancelling_job_shows_so():
    model, _ = filled(1)
    job = model.job("job-000000")
    model.apply_jobs([bump(job, cancel_requested_at=job.updated_at)])
    assert model.index(0, Column.STATUS).data() == "Cancelling…"


def test_an_active_jobs_status_says_when_it_was_last_polled():
    from datetime import UTC, datetime, timedelta

    model = JobTableModel()
    polled = datetime.now(UTC) - timedelta(minutes=4, seconds=10)
    running = make_job(1, external_job_id="ext-1", polled_at=polled)
    never = make_job(2, external_job_id="ext-2")
    done = make_job(3, status=JobStatus.COMPLETED, external_job_id="ext-3", polled_at=polled)
    model.set_jobs([running, never, done])

    def tip(job):
        return model.index(model.row_of(job.id), Column.STATUS).data(Qt.ItemDataRole.ToolTipRole)

    assert tip(running) == "Running, polled 4 min ago"
    assert tip(never) == "Running, never polled"
    assert tip(done) is None  # over: nothing more to poll


def test_a_cost_below_a_cent_reads_in_four_places_and_a_trace_of_one_as_zero():
    model = JobTableModel()
    model.set_jobs([make_job(1, current_cost=0.0042), make_job(2, current_cost=0.00003), make_job(3)])

    def cost(n: int) -> str:
        return model.index(model.row_of(f"job-{n:06d}"), Column.COST).data()

    assert (cost(1), cost(2), cost(3)) == ("$0.0042", "$0.00", "$1.25")  # no "$0.0000"
