"""The security-relevant properties of the Bicep templates, read with pycep-parser."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.infra import bicep_model as bicep
from tests.infra.bicep_model import RoleAssignment

# Built-in role definition IDs (identical in every tenant).
KEY_VAULT_SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
# Broad roles the gateway must never get.
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"


@pytest.mark.parametrize("path", bicep.bicep_files(), ids=lambda p: p.relative_to(bicep.INFRA_DIR).as_posix())
def test_every_bicep_file_parses(path: Path) -> None:
    template = bicep.parse(path)
    assert template.get("resources") or template.get("modules"), f"{path} declares nothing"


def test_every_module_is_used_by_main() -> None:
    used = {Path(m["detail"]["path"]).name for m in bicep.parse(bicep.MAIN_BICEP)["modules"].values()}
    assert used == {p.name for p in bicep.MODULES_DIR.glob("*.bicep")}


def test_function_app_is_flex_consumption_python_of_the_code() -> None:
    functionapp = bicep.module_template("functionapp")
    plan = bicep.the_resource(functionapp, "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    assert plan["properties"]["reserved"] is True
    site = bicep.the_resource(functionapp, "Microsoft.Web/sites")
    assert site["kind"] == "functionapp,linux"
    runtime = site["properties"]["functionAppConfig"]["runtime"]
    assert runtime == {"name": "python", "version": "pythonVersion"}
    target = tomllib.loads((bicep.REPO_ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["target-version"]
    code_version = f"{target[2]}.{target[3:]}"  # "py311" -> "3.11"
    main = bicep.parse(bicep.MAIN_BICEP)
    assert bicep.variable(main, "pythonVersion") == code_version
    assert bicep.body(main["modules"]["functionApp"])["params"]["pythonVersion"] == "pythonVersion"


def test_function_app_is_https_only_with_tls_12_and_no_ftp_or_basic_auth() -> None:
    functionapp = bicep.module_template("functionapp")
    site = bicep.the_resource(functionapp, "Microsoft.Web/sites")
    properties = site["properties"]
    assert properties["httpsOnly"] is True
    assert properties["siteConfig"]["minTlsVersion"] == "1.2"
    assert properties["siteConfig"]["scmMinTlsVersion"] == "1.2"
    assert properties["siteConfig"]["ftpsState"] == "Disabled"
    assert "appSettings" not in properties["siteConfig"], "app settings are written once, by main.bicep"
    # App Service vouches for X-ARR-ClientCert only when it asks for certificates itself.
    assert properties["clientCertEnabled"] == {
        "operator": {"type": "not_equals", "operands": {"operand_1": "clientCertMode", "operand_2": "off"}}
    }
    assert set(properties["clientCertExclusionPaths"].split(";")) == {
        "/api/oauth/start",
        "/api/oauth/callback",
        "/api/health",
    }
    policies = bicep.resources(functionapp, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert {bicep.body(p)["name"]: bicep.body(p)["properties"]["allow"] for p in policies.values()} == {
        "ftp": False,
        "scm": False,
    }


def test_function_app_runs_as_the_user_assigned_identity_everywhere() -> None:
    site = bicep.the_resource(bicep.module_template("functionapp"), "Microsoft.Web/sites")
    assert bicep.render(site["identity"]) == {"type": "UserAssigned", "userAssignedIdentities": {"${identityId}": {}}}
    storage = site["properties"]["functionAppConfig"]["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }
    params = bicep.body(bicep.parse(bicep.MAIN_BICEP)["modules"]["functionApp"])["params"]
    assert bicep.render(params["identityId"]) == "identity.outputs.id"
    assert bicep.render(params["deploymentContainerUrl"]) == "storage.outputs.deploymentContainerUrl"


def test_storage_account_takes_no_keys_and_no_anonymous_access() -> None:
    template = bicep.module_template("storage")
    properties = bicep.the_resource(template, "Microsoft.Storage/storageAccounts")["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["allowBlobPublicAccess"] is False
    assert properties["supportsHttpsTrafficOnly"] is True
    assert properties["allowCrossTenantReplication"] is False
    container = bicep.the_resource(template, "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert container["properties"]["publicAccess"] == "None"


def test_storage_and_vault_go_private_with_the_vnet() -> None:
    storage = bicep.the_resource(bicep.module_template("storage"), "Microsoft.Storage/storageAccounts")
    assert bicep.render(storage["properties"]["publicNetworkAccess"]) == "privateOnly ? Disabled : Enabled"
    assert bicep.render(storage["properties"]["networkAcls"]["defaultAction"]) == "privateOnly ? Deny : Allow"
    main = bicep.parse(bicep.MAIN_BICEP)
    assert bicep.body(main["modules"]["storage"])["params"]["privateOnly"] == "vnetEnabled"
    vault_params = bicep.render(bicep.body(main["modules"]["keyVault"])["params"])
    assert vault_params["publicNetworkAccess"] == (
        "empty(keyVaultPublicNetworkAccess) ? vnetEnabled ? Disabled : Enabled : keyVaultPublicNetworkAccess"
    )
    assert vault_params["networkDefaultAction"] == (
        "empty(keyVaultNetworkDefaultAction) ? vnetEnabled ? Deny : Allow : keyVaultNetworkDefaultAction"
    )


def test_key_vault_uses_rbac_and_cannot_be_purged() -> None:
    properties = bicep.the_resource(bicep.module_template("keyvault"), "Microsoft.KeyVault/vaults")["properties"]
    assert properties["enableRbacAuthorization"] is True
    assert properties["enableSoftDelete"] is True
    assert properties["enablePurgeProtection"] is True
    assert properties["enabledForDeployment"] is False
    assert properties["enabledForDiskEncryption"] is False
    assert properties["enabledForTemplateDeployment"] is False
    assert "accessPolicies" not in properties
    # Configurable, not hard-coded.
    assert properties["publicNetworkAccess"] == "publicNetworkAccess"
    assert properties["networkAcls"]["defaultAction"] == "networkDefaultAction"


def test_key_vault_audit_log_goes_to_log_analytics() -> None:
    template = bicep.module_template("keyvault")
    (setting,) = (bicep.body(d) for d in bicep.resources(template, "Microsoft.Insights/diagnosticSettings").values())
    assert setting["scope"] == "vault"
    assert setting["properties"]["workspaceId"] == "logAnalyticsWorkspaceId"
    assert {"categoryGroup": "audit", "enabled": True} in setting["properties"]["logs"]
    params = bicep.body(bicep.parse(bicep.MAIN_BICEP)["modules"]["keyVault"])["params"]
    assert bicep.render(params["logAnalyticsWorkspaceId"]) == "monitoring.outputs.logAnalyticsId"


def test_monitoring_accepts_only_entra_authenticated_ingestion() -> None:
    template = bicep.module_template("monitoring")
    insights = bicep.the_resource(template, "Microsoft.Insights/components")["properties"]
    assert insights["DisableLocalAuth"] is True
    assert bicep.render(insights["WorkspaceResourceId"]) == "logAnalytics.id"
    workspace = bicep.the_resource(template, "Microsoft.OperationalInsights/workspaces")["properties"]
    assert workspace["features"]["disableLocalAuth"] is True


def test_role_definition_ids_are_the_built_in_ones() -> None:
    role_ids = bicep.variable(bicep.module_template("roles"), "roleIds")
    assert role_ids == {
        "keyVaultSecretsOfficer": KEY_VAULT_SECRETS_OFFICER,
        "storageTableDataContributor": STORAGE_TABLE_DATA_CONTRIBUTOR,
        "storageBlobDataOwner": STORAGE_BLOB_DATA_OWNER,
        "storageQueueDataContributor": STORAGE_QUEUE_DATA_CONTRIBUTOR,
        "monitoringMetricsPublisher": MONITORING_METRICS_PUBLISHER,
    }


def test_role_assignments_are_exactly_the_least_privilege_set() -> None:
    assignments = set()
    for template in map(bicep.parse, bicep.bicep_files()):
        for a in bicep.role_assignments(template):
            assignments.add((a.role_id, a.scope, a.principal_id, a.principal_type, a.condition))
    app = ("appPrincipalId", "ServicePrincipal", None)
    deployer = ("deployerPrincipalId", "deployerPrincipalType", "grantDeployer")
    assert assignments == {
        (KEY_VAULT_SECRETS_OFFICER, "vault", *app),
        (STORAGE_TABLE_DATA_CONTRIBUTOR, "storage", *app),
        (STORAGE_BLOB_DATA_OWNER, "storage", *app),
        (STORAGE_QUEUE_DATA_CONTRIBUTOR, "storage", *app),
        (MONITORING_METRICS_PUBLISHER, "applicationInsights", *app),
        (KEY_VAULT_SECRETS_OFFICER, "vault", *deployer),
        (STORAGE_TABLE_DATA_CONTRIBUTOR, "storage", *deployer),
    }


def test_role_assignment_scopes_are_the_gateways_resources() -> None:
    roles = bicep.module_template("roles")
    existing = {name: r["type"] for name, r in roles["resources"].items() if r["existing"]}
    assert existing == {
        "storage": "Microsoft.Storage/storageAccounts",
        "vault": "Microsoft.KeyVault/vaults",
        "applicationInsights": "Microsoft.Insights/components",
    }
    params = bicep.render(bicep.body(bicep.parse(bicep.MAIN_BICEP)["modules"]["roles"])["params"])
    assert params["appPrincipalId"] == "identity.outputs.principalId"
    assert params["storageAccountName"] == "storage.outputs.name"
    assert params["keyVaultName"] == "keyVault.outputs.name"
    assert bicep.render(bicep.variable(roles, "grantDeployer")) == "!empty(deployerPrincipalId)"


def test_no_broad_roles_anywhere() -> None:
    text = "\n".join(p.read_text() for p in bicep.bicep_files()).lower()
    assert OWNER not in text
    assert CONTRIBUTOR not in text


def test_role_assignment_reader_resolves_guids() -> None:
    # The reader the tests above rely on must resolve roleIds.* and see conditions.
    roles = {a.symbol: a for a in bicep.role_assignments(bicep.module_template("roles"))}
    assert roles["deployerKeyVaultSecretsOfficer"] == RoleAssignment(
        symbol="deployerKeyVaultSecretsOfficer",
        role_id=KEY_VAULT_SECRETS_OFFICER,
        scope="vault",
        principal_id="deployerPrincipalId",
        principal_type="deployerPrincipalType",
        condition="grantDeployer",
    )


def test_vnet_integration_and_private_endpoints_are_optional_and_complete() -> None:
    main = bicep.parse(bicep.MAIN_BICEP)
    assert bicep.condition(main["modules"]["network"]) == "vnetEnabled"
    assert bicep.condition(main["modules"]["privateEndpoints"]) == "vnetEnabled"
    subnet = bicep.render(bicep.body(main["modules"]["functionApp"])["params"]["subnetId"])
    assert subnet == "vnetEnabled ? network.outputs.appSubnetId : "
    site = bicep.the_resource(bicep.module_template("functionapp"), "Microsoft.Web/sites")
    assert bicep.render(site["properties"]["virtualNetworkSubnetId"]) == "empty(subnetId) ? None : subnetId"

    vnet = bicep.the_resource(bicep.module_template("network"), "Microsoft.Network/virtualNetworks")
    app_subnet = vnet["properties"]["subnets"][0]["properties"]
    assert app_subnet["delegations"][0]["properties"]["serviceName"] == "Microsoft.App/environments"

    endpoints = bicep.variable(bicep.module_template("private-endpoints"), "endpoints")
    targets = {e["groupId"]: bicep.render(e["target"]) for e in endpoints}
    assert targets == {
        "blob": "storageAccountId",
        "queue": "storageAccountId",
        "table": "storageAccountId",
        "vault": "keyVaultId",
    }


def test_outputs_give_the_app_url_and_the_oauth_redirect_url() -> None:
    outputs = bicep.parse(bicep.MAIN_BICEP)["outputs"]
    assert outputs["FUNCTION_APP_URL"]["value"] == "https://${functionApp.outputs.defaultHostName}"
    assert outputs["OAUTH_REDIRECT_URL"]["value"] == "${gatewayPublicUrl}/api/oauth/callback"


def test_resource_names_fit_azure_limits() -> None:
    # uniqueString() is 13 characters; storage allows 24 lowercase letters/digits, Key Vault 24.
    params = {name: bicep.body(m)["params"] for name, m in bicep.parse(bicep.MAIN_BICEP)["modules"].items()}
    token = "x" * 13
    storage_name = params["storage"]["name"].replace("${resourceToken}", token)
    vault_name = params["keyVault"]["name"].replace("${resourceToken}", token)
    assert len(storage_name) <= 24
    assert storage_name.isalnum()
    assert storage_name.islower()
    assert 3 <= len(vault_name) <= 24
