"""Pure rules of msp_access: the role table, claim mapping for Keycloak, Entra ID and
Okta shaped tokens, the tenant rule, and where a request's credential is read from."""

from __future__ import annotations

import base64
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from msp_access.apikeys import ApiKey
from msp_access.dependency import presented_credential
from msp_access.principal import ALL, Principal
from msp_access.roles import ROLE_PERMISSIONS, Permission, permissions_for, role_table_markdown
from msp_access.settings import AccessSettings
from msp_access.tokens import TokenVerifier, claim_at

ROOT = Path(__file__).resolve().parents[3]


def verifier(**settings: object) -> TokenVerifier:
    return TokenVerifier(AccessSettings(oidc_issuer="https://sso.example/realms/msp", **settings))  # type: ignore[arg-type]


def test_default_deny_unknown_roles_grant_nothing() -> None:
    assert permissions_for(["superuser", "root"]) == frozenset()
    assert permissions_for([]) == frozenset()


def test_the_customer_role_is_read_only() -> None:
    writes = {Permission.BILLING_WRITE, Permission.KEYS_MANAGE, Permission.OPS_REBUILD}
    assert not ROLE_PERMISSIONS["customer"] & writes
    assert Permission.EVENTS_PUBLISH not in ROLE_PERMISSIONS["customer"]


def test_operations_doc_carries_the_role_table_verbatim() -> None:
    doc = (ROOT / "docs" / "operations.md").read_text()
    assert role_table_markdown() in doc, "docs/operations.md: paste role_table_markdown()"


def test_keycloak_realm_roles_and_customer_attribute() -> None:
    p = verifier().principal(
        {
            "sub": "u1",
            "name": "Alice Acme",
            "azp": "msp-cli",
            "realm_access": {"roles": ["customer", "offline_access"]},
            "customer_ids": ["cust-acme"],
        }
    )
    assert p.roles == {"customer", "offline_access"} and p.customers == frozenset({"cust-acme"})
    assert p.display_name == "Alice Acme" and p.credential_id == "oidc:msp-cli"
    assert p.can(Permission.SLA_READ) and not p.can(Permission.BILLING_WRITE)
    assert p.kind == "person"


def test_entra_app_roles_with_a_role_map() -> None:
    p = verifier(oidc_roles_claim="roles", oidc_role_map={"MSP.Billing": "billing"}).principal(
        {"sub": "app-1", "roles": ["MSP.Billing"], "idtyp": "app", "azp": "finance-robot"}
    )
    assert p.roles == {"billing"} and p.customers is ALL and p.kind == "machine"


def test_okta_groups_and_a_string_customer_claim() -> None:
    p = verifier(oidc_roles_claim="groups", oidc_customers_claim="msp.customers").principal(
        {"sub": "u2", "groups": ["dispatcher"], "msp": {"customers": "cust-a cust-b"}}
    )
    assert p.customers == frozenset({"cust-a", "cust-b"}) and p.display_name == "u2"


def test_metrics_label_callers_by_a_bounded_source_never_a_person() -> None:
    person = verifier().principal(
        {"sub": "u4", "name": "Alice Acme", "azp": "msp-cli", "realm_access": {"roles": []}}
    )
    assert person.source == "oidc:msp-cli" and "Alice" not in person.source
    key = ApiKey(key_id="k1", source="rmm-prod", customer_ids=frozenset({"c1"}))
    assert key.principal().source == "rmm-prod"


def test_a_customer_without_the_claim_sees_nothing() -> None:
    p = verifier().principal({"sub": "u3", "realm_access": {"roles": ["customer"]}})
    assert p.customers == frozenset() and not p.sees("cust-acme")


def test_claim_paths() -> None:
    claims = {"a": {"b": {"c": [1]}}, "https://x.example/roles": ["admin"]}
    assert claim_at(claims, "a.b.c") == [1]
    assert claim_at(claims, "a.x") is None
    assert claim_at(claims, "https://x.example/roles") == ["admin"]


@given(st.sets(st.sampled_from(["c1", "c2", "c3", "c4"])), st.sampled_from(["c1", "c2", "c5"]))
def test_a_scoped_principal_sees_exactly_its_customers(customers: set[str], asked: str) -> None:
    p = Principal.of(
        subject="s",
        display_name="d",
        credential_id="k",
        kind="machine",
        roles=["dispatcher"],
        customers=frozenset(customers),
    )
    assert p.sees(asked) == (asked in customers)
    assert p.customer_scope() == sorted(customers)


def test_where_the_credential_is_read_from() -> None:
    basic = base64.b64encode(b"alertmanager:mspk_abc_def").decode()
    assert presented_credential(f"Basic {basic}", None) == "mspk_abc_def"
    assert presented_credential("Bearer tok", "other") == "tok"
    assert presented_credential(None, " mspk_x ") == "mspk_x"
    assert presented_credential("Basic !!!", None) is None
    assert presented_credential("", "") is None
