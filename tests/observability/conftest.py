"""The observability tests: consumer lag, the Grafana dashboards' JSON, and every
dashboard query evaluated by a real Prometheus scraping the running services. The test
folder goes on sys.path for `obs_dashboards`, `obs_prometheus` and `obs_scenario`
(importlib import mode does not add it; the module names are unique in the workspace)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
