"""Datasets: the JSON Lines file format (`file_format`) and the service that checks, stores, lists and
deletes them (`catalog`)."""
