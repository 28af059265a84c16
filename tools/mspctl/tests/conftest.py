"""mspctl test setup: this folder on sys.path for `mspctl_events` (importlib import mode
does not add it; the module name is unique in the workspace)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
