"""Training jobs as people use them: the service that creates, lists, shows, cancels and deletes them
(`service`), and what a job carries or becomes: its request, labels, logs, summary, metric columns,
sample answers, comparison; reuse, resume and tombstones. Their SQL is `core.db.job_store`."""
