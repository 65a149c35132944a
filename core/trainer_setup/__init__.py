"""`loradesk trainer setup`: the Python environment that trains local jobs, made under LORADESK_HOME.

The installed app has no torch of its own. The setup finds a Python 3.11+ on the machine, makes a
virtual environment beside the final one, lets pip (with the machine's own pip configuration)
resolve and install torch, transformers, peft and safetensors plus the trainer wheel the bundle
carries, checks that torch imports, writes a marker and only then renames the environment into
place. So an interrupted or cancelled setup leaves nothing half-installed, a second run finds the
marker and changes nothing, and an environment whose torch no longer imports is made again.
"""

from core.trainer_setup.environment import DEFAULT_TORCH, SetupOptions, SetupResult, setup_trainer
from core.trainer_setup.failures import NoPackageIndexError, NoPythonError, SetupCancelled, TrainerSetupError
from core.trainer_setup.progress import SetupReporter

__all__ = [
    "DEFAULT_TORCH",
    "NoPackageIndexError",
    "NoPythonError",
    "SetupCancelled",
    "SetupOptions",
    "SetupReporter",
    "SetupResult",
    "TrainerSetupError",
    "setup_trainer",
]
