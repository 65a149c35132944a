"""`loradesk datasets show` and `datasets delete`: one dataset's details, and removing an unused one."""

from __future__ import annotations

import argparse

from core.cli.commands import emit_json, workspace
from core.cli.output import print_dataset_detail
from core.datasets import catalog as datasets


def datasets_show(args: argparse.Namespace) -> int:
    with workspace(args) as ws:
        detail = datasets.dataset_detail(ws, ref=args.dataset_ref)
    if args.json:
        emit_json(detail.to_json())
    else:
        print_dataset_detail(detail)
    return 0


def datasets_delete(args: argparse.Namespace) -> int:
    with workspace(args) as ws:
        dataset = datasets.delete_dataset(ws, ref=args.dataset_ref)
    print(f"deleted dataset {dataset.id} ({dataset.name})")
    return 0
