"""The tray menu, and closing the window: to the tray when there is one and the setting is on."""

from __future__ import annotations

from PySide6.QtWidgets import QSystemTrayIcon

from desktop.main_window import MainWindow
from desktop.notifications_panel import Notifier
from desktop.tray import AppTray


def window_with_tray(qtbot, *, available: bool, keep: bool) -> MainWindow:
    window = MainWindow()
    qtbot.addWidget(window)
    window.keep_in_tray = keep
    window.notifier = Notifier(window.banner, QSystemTrayIcon(), tray_available=lambda: available)
    window.show()
    return window


def test_close_hides_to_the_tray(qtbot):
    window = window_with_tray(qtbot, available=True, keep=True)
    with qtbot.assertNotEmitted(window.quit_requested):
        window.close()
    assert window.isHidden()


def test_close_quits_without_a_tray_or_with_the_setting_off(qtbot):
    for available, keep in ((False, True), (True, False)):
        window = window_with_tray(qtbot, available=available, keep=keep)
        with qtbot.waitSignal(window.quit_requested):
            window.close()


def test_tray_menu(qtbot):
    tray = AppTray()
    labels = [action.text() for action in tray.menu.actions() if action.text()]
    assert labels == ["Show Loradesk", "Pause scheduler", "Quit"]
    with qtbot.waitSignal(tray.pause_toggled) as paused:
        tray.pause_action.trigger()
    assert paused.args == [True]
    assert tray.pause_action.text() == "Resume scheduler"
    with qtbot.waitSignal(tray.pause_toggled) as resumed:
        tray.pause_action.trigger()
    assert resumed.args == [False]
    with qtbot.waitSignal(tray.show_requested):
        tray.show_action.trigger()
    with qtbot.waitSignal(tray.quit_requested):
        tray.quit_action.trigger()
    tray.set_paused(True)  # the scheduler was paused elsewhere: the menu says so, asks for nothing
    assert tray.pause_action.isChecked() and tray.pause_action.text() == "Resume scheduler"
