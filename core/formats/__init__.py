"""What crosses from the app to the trainer and back: the dataset file (SPEC §3), a job's
hyperparameters, and the sample answers a trainer reports. Plain Python and no database, because
the trainer's own environment imports them too."""
