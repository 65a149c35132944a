"""The composition root: where the command line (core) and the desktop app are put together.

`core` never imports the desktop and the desktop never imports the command line; the two console
scripts start here, the one place that knows both.
"""
