"""msp_access: who may see and do what, for every service and mspctl.

- `principal.Principal`: the authenticated caller (a person from the identity provider,
  or a machine with an API key), its roles and the customers it may see.
- `roles.ROLE_PERMISSIONS`: the one role → permission table (default deny).
- `tokens.TokenVerifier`: OIDC bearer JWTs checked against the provider's JWKS.
- `apikeys`: scoped, revocable, peppered API keys in the shared `access` schema.
- `dependency.require`: the FastAPI dependency every route declares.
- `errors`: the one error body `{status, error, message, errors[]}`.
"""

from msp_access.principal import ALL, Principal
from msp_access.roles import ROLE_PERMISSIONS, Permission

__all__ = ["ALL", "ROLE_PERMISSIONS", "Permission", "Principal"]
