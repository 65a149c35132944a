"""The app's dialogs: add a dataset, create a job, edit the settings."""
