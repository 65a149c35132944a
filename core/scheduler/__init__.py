"""The embedded scheduler (SPEC §5): claims, transitions, cancels and the asyncio worker."""

from core.scheduler.worker import CycleReport, Scheduler

__all__ = ["CycleReport", "Scheduler"]
