"""Deploy tests: offline checks of the images, docker-compose.yml and the Kubernetes
manifests (no broker, no Docker engine, no cluster; kustomize from `make deploy-tools`)."""

from __future__ import annotations

import sys
from pathlib import Path

# Test modules import `deploy_manifests` by name (importlib import mode does not put
# test folders on sys.path; the name is unique in the workspace).
sys.path.insert(0, str(Path(__file__).parent))
