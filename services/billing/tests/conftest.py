"""Billing test setup: the test folder on sys.path for `billing_factory` (importlib
import mode does not add it; the module name is unique in the workspace)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
