// Connector gateway: Function App (Flex Consumption, Python) with its identity, storage,
// Key Vault, monitoring, role assignments and optional VNet with private endpoints.
// Deploy with `azd up` or `az deployment group create` (see the README, "Deploy to Azure").

targetScope = 'resourceGroup'

// ---------- Naming and placement ----------

@description('Short name of this deployment, e.g. "prod". Goes into tags and makes resource names unique. azd sets it from AZURE_ENV_NAME.')
@minLength(1)
@maxLength(32)
param environmentName string

@description('Azure region of every resource; one that offers Flex Consumption.')
param location string = resourceGroup().location

@description('Extra tags for every resource.')
param tags object = {}

// ---------- Entra ID ----------

@description('Application (client) ID of the gateway\'s Entra ID app registration, the API callers get tokens for.')
@minLength(36)
@maxLength(36)
param gatewayAppClientId string

@description('Application ID URI of that app registration. Empty means api://<gatewayAppClientId>.')
param gatewayAppIdUri string = ''

@description('Entra ID tenant that issues the callers\' tokens.')
param entraTenantId string = tenant().tenantId

@description('AUTH_OIDC_ISSUERS: comma-separated trusted issuers. Empty means the tenant\'s v2.0 and v1 issuers.')
param oidcIssuers string = ''

@description('AUTH_OIDC_AUDIENCES: comma-separated accepted audiences. Empty means the client ID and the application ID URI.')
param oidcAudiences string = ''

@description('AUTH_MAKER_ROLE: app role (or key role) that may register connectors.')
param makerRole string = 'Connectors.Manage'

@description('AUTH_ADMIN_ROLE: app role (or key role) of the deployment\'s admins.')
param adminRole string = 'Connectors.Admin'

@description('AUTH_CLOCK_SKEW_SECONDS: clock skew allowed on token exp and nbf.')
@minValue(0)
param clockSkewSeconds int = 60

@description('AUTH_SUBSCRIPTION_KEY_HEADER: header that carries a subscription key.')
param subscriptionKeyHeader string = 'Ocp-Apim-Subscription-Key'

@description('AUTH_SUBSCRIPTION_KEY_QUERY: query parameter that carries a subscription key.')
param subscriptionKeyQuery string = 'subscription-key'

@description('AUTH_OIDC_STATIC_ISSUERS: comma-separated trusted issuers without discovery, verified with oidcSigningKeys.')
param oidcStaticIssuers string = ''

@description('AUTH_OIDC_SIGNING_KEYS: public keys of the static issuers, a JWKS JSON document or PEM public keys / certificates.')
param oidcSigningKeys string = ''

@description('AUTH_ENTRA_TENANTS: comma-separated tenant IDs accepted by issuers containing {tenantid} (multi-tenant).')
param entraTenants string = ''

@description('AUTH_REQUIRE_EXPIRATION: false accepts tokens without an exp claim.')
param requireExpirationTime bool = true

@description('AUTH_REQUIRED_CLAIMS: claims every token must carry, objects {name, match: all|any, separator, values}.')
param requiredClaims array = []

@description('AUTH_TOKEN_HEADER: header that carries the JWT (Authorization needs the Bearer scheme).')
param tokenHeader string = 'Authorization'

@description('AUTH_TOKEN_QUERY: query parameter that may carry the JWT instead. Empty: not accepted.')
param tokenQuery string = ''

@description('AUTH_FAILED_VALIDATION_STATUS: status for a rejected token.')
@allowed([401, 403])
param failedValidationStatus int = 401

@description('AUTH_FAILED_VALIDATION_MESSAGE: message for a rejected token instead of the specific reason.')
param failedValidationMessage string = ''

// ---------- Gateway behaviour ----------

@description('GATEWAY_PUBLIC_URL: public base URL (custom domain or front door). Empty means https://<app default host name>. The OAuth redirect URL is <publicUrl>/api/oauth/callback.')
param publicUrl string = ''

@description('TABLES_PREFIX: prefix of the gateway\'s table names (letters and digits).')
@minLength(1)
@maxLength(20)
param tablesPrefix string = 'gw'

@description('PROXY_CONNECT_TIMEOUT_SECONDS: connect timeout to backends.')
@minValue(1)
param proxyConnectTimeoutSeconds int = 10

@description('PROXY_READ_TIMEOUT_SECONDS: read timeout to backends; past it the caller gets 504.')
@minValue(1)
param proxyReadTimeoutSeconds int = 100

@description('PROXY_MAX_BODY_BYTES: largest request body forwarded.')
@minValue(0)
param proxyMaxBodyBytes int = 33554432

@description('PROXY_TOTAL_TIMEOUT: seconds one backend call may take in all (well inside the 230 s HTTP limit).')
@minValue(1)
@maxValue(220)
param proxyTotalTimeoutSeconds int = 100

@description('PROXY_MAX_RESPONSE_BYTES: largest backend response body passed back; larger gets 502.')
@minValue(0)
param proxyMaxResponseBytes int = 104857600

@description('PROXY_ALLOWED_NETWORKS: comma-separated CIDRs of the private networks backends may be in; empty allows every private range, none none of them.')
param proxyAllowedNetworks string = ''

@description('OAUTH_REFRESH_MARGIN_SECONDS: refresh an OAuth access token when it expires within this time.')
@minValue(0)
param oauthRefreshMarginSeconds int = 300

@description('OAUTH_REFRESH_BACKOFF_SECONDS: after a transient refresh failure, one attempt per connection per window.')
@minValue(1)
param oauthRefreshBackoffSeconds int = 60

@description('OAUTH_POST_LOGIN_REDIRECTS: comma-separated https URL prefixes allowed as postLoginRedirectUrl.')
param oauthPostLoginRedirects string = ''

@description('SECRET_CACHE_SIZE: connection secrets kept in memory.')
@minValue(0)
param secretCacheSize int = 1024

@description('STORE_RETRIES: retries of one Table Storage or Key Vault call.')
@minValue(0)
@maxValue(10)
param storeRetries int = 3

@description('STORE_ATTEMPT_TIMEOUT_SECONDS: read timeout of one attempt at a Table Storage or Key Vault call.')
@minValue(1)
@maxValue(60)
param storeAttemptTimeoutSeconds int = 10

@description('STORE_DEADLINE_SECONDS: no retry of a store call starts or waits past this; then 503. Keep well under 230 s.')
@minValue(1)
@maxValue(120)
param storeDeadlineSeconds int = 30

@description('LOG_LEVEL: level of the gateway\'s own loggers.')
@allowed(['DEBUG', 'INFO', 'WARNING', 'ERROR'])
param logLevel string = 'INFO'

@description('AUTH_IP_ALLOW: comma-separated caller IPs, CIDRs or from-to ranges that may call. Empty allows everyone not forbidden.')
param ipAllow string = ''

@description('AUTH_IP_FORBID: comma-separated caller IPs, CIDRs or from-to ranges refused; wins over ipAllow.')
param ipForbid string = ''

@description('AUTH_TRUSTED_PROXY_HOPS: proxies in front of the gateway that append to X-Forwarded-For (App Service front end: 1; add one per proxy such as Front Door in front of it). 0: the caller address is unknown (the app never sees the TCP peer); ipAllow/ipForbid then refuse to start.')
@minValue(0)
param trustedProxyHops int = 1

@description('AUTH_CLIENT_CERT_MODE: TLS client certificates forwarded by App Service. Anything but off also needs the site\'s client certificates enabled.')
@allowed(['off', 'optional', 'required'])
param clientCertMode string = 'off'

@description('AUTH_CLIENT_CERT_CA: PEM of the CAs trusted to issue client certificates.')
param clientCertCa string = ''

@description('AUTH_CLIENT_CERT_IDENTITIES: allowed client certificate identities, objects with APIM identity attributes (thumbprint, serial-number, common-name, subject, dns-name, issuer-subject, issuer-thumbprint). Empty allows any trusted certificate. A certificate pinned by thumbprint may also call without a token, as principal cert|<THUMBPRINT>.')
param clientCertIdentities array = []

// ---------- Hosting ----------

@description('Memory of one instance in MB.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Most instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Spread the app\'s instances across availability zones. Only in regions where Flex Consumption offers zone redundancy.')
param zoneRedundant bool = false

@description('Replication of the storage account (host storage, deployment package, tables).')
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_GZRS'])
param storageSkuName string = 'Standard_LRS'

@description('Days Log Analytics keeps data.')
@minValue(30)
@maxValue(730)
param logRetentionInDays int = 30

// ---------- Key Vault ----------

@description('Days a deleted vault or secret stays recoverable (purge protection is always on).')
@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteRetentionInDays int = 90

@description('Public network access to the vault. Empty means Disabled with vnetEnabled, Enabled without.')
@allowed(['', 'Enabled', 'Disabled'])
param keyVaultPublicNetworkAccess string = ''

@description('Vault firewall default action. Empty means Deny with vnetEnabled, Allow without.')
@allowed(['', 'Allow', 'Deny'])
param keyVaultNetworkDefaultAction string = ''

@description('Public IPv4 addresses or CIDR ranges the vault firewall lets through, e.g. an operator\'s workstation.')
param keyVaultAllowedIpRanges array = []

// ---------- Network ----------

@description('Integrate the app with a new VNet and reach storage and Key Vault through private endpoints only.')
param vnetEnabled bool = false

@description('Address space of the VNet (vnetEnabled only).')
param vnetAddressPrefix string = '10.20.0.0/16'

@description('Subnet the app integrates with (vnetEnabled only).')
param appSubnetPrefix string = '10.20.1.0/24'

@description('Subnet of the private endpoints (vnetEnabled only).')
param privateEndpointSubnetPrefix string = '10.20.2.0/24'

@description('Private DNS zone of Key Vault (vnetEnabled only); differs in sovereign clouds.')
param keyVaultPrivateDnsZoneName string = 'privatelink.vaultcore.azure.net'

// ---------- Local debugging ----------

@description('Object ID of a user or group granted Key Vault Secrets Officer and Storage Table Data Contributor for local debugging. Empty grants nobody.')
param deployerPrincipalId string = ''

@description('Kind of principal deployerPrincipalId is.')
@allowed(['User', 'Group', 'ServicePrincipal'])
param deployerPrincipalType string = 'User'

// ---------- Names ----------

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var allTags = union(tags, { 'azd-env-name': environmentName })
var functionAppName = 'func-gw-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'
// The Python the code targets (pyproject.toml); tests/infra checks the two agree.
var pythonVersion = '3.11'

// ---------- Resources ----------

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: {
    name: 'id-gw-${resourceToken}'
    location: location
    tags: allTags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    logAnalyticsName: 'log-gw-${resourceToken}'
    applicationInsightsName: 'appi-gw-${resourceToken}'
    location: location
    tags: allTags
    retentionInDays: logRetentionInDays
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: 'stgw${resourceToken}'
    location: location
    tags: allTags
    skuName: storageSkuName
    deploymentContainerName: deploymentContainerName
    privateOnly: vnetEnabled
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: 'kv-gw-${resourceToken}'
    location: location
    tags: allTags
    softDeleteRetentionInDays: keyVaultSoftDeleteRetentionInDays
    publicNetworkAccess: empty(keyVaultPublicNetworkAccess) ? (vnetEnabled ? 'Disabled' : 'Enabled') : keyVaultPublicNetworkAccess
    networkDefaultAction: empty(keyVaultNetworkDefaultAction) ? (vnetEnabled ? 'Deny' : 'Allow') : keyVaultNetworkDefaultAction
    allowedIpRanges: keyVaultAllowedIpRanges
    logAnalyticsWorkspaceId: monitoring.outputs.logAnalyticsId
  }
}

module network 'modules/network.bicep' = if (vnetEnabled) {
  name: 'network'
  params: {
    name: 'vnet-gw-${resourceToken}'
    location: location
    tags: allTags
    addressPrefix: vnetAddressPrefix
    appSubnetPrefix: appSubnetPrefix
    privateEndpointSubnetPrefix: privateEndpointSubnetPrefix
  }
}

module privateEndpoints 'modules/private-endpoints.bicep' = if (vnetEnabled) {
  name: 'private-endpoints'
  params: {
    location: location
    tags: allTags
    nameSuffix: 'gw-${resourceToken}'
    vnetId: vnetEnabled ? network.outputs.id : ''
    subnetId: vnetEnabled ? network.outputs.privateEndpointSubnetId : ''
    storageAccountId: storage.outputs.id
    keyVaultId: keyVault.outputs.id
    keyVaultPrivateDnsZoneName: keyVaultPrivateDnsZoneName
  }
}

module roles 'modules/roles.bicep' = {
  name: 'roles'
  params: {
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appPrincipalId: identity.outputs.principalId
    deployerPrincipalId: deployerPrincipalId
    deployerPrincipalType: deployerPrincipalType
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: functionAppName
    planName: 'plan-gw-${resourceToken}'
    location: location
    tags: allTags
    azdServiceName: 'gateway'
    identityId: identity.outputs.id
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    pythonVersion: pythonVersion
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    subnetId: vnetEnabled ? network.outputs.appSubnetId : ''
    zoneRedundant: zoneRedundant
    clientCertMode: clientCertMode
  }
}

// ---------- App settings ----------

var appIdUri = empty(gatewayAppIdUri) ? 'api://${gatewayAppClientId}' : gatewayAppIdUri
var defaultIssuers = 'https://login.microsoftonline.com/${entraTenantId}/v2.0,https://sts.windows.net/${entraTenantId}/'
// A trailing slash would double the one in the redirect URL.
var publicUrlWithoutSlash = endsWith(publicUrl, '/') ? take(publicUrl, length(publicUrl) - 1) : publicUrl
var gatewayPublicUrl = empty(publicUrl) ? 'https://${functionApp.outputs.defaultHostName}' : publicUrlWithoutSlash

// Every setting the gateway reads (shared/settings.py SETTINGS, minus local-only ones)
// plus what the Functions host needs. tests/infra checks this list against the code.
var appSettings = {
  // Functions host storage, through the managed identity (no keys).
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.outputs.clientId
  AzureWebJobsStorage__blobServiceUri: storage.outputs.blobEndpoint
  AzureWebJobsStorage__queueServiceUri: storage.outputs.queueEndpoint
  AzureWebJobsStorage__tableServiceUri: storage.outputs.tableEndpoint
  // Telemetry with Entra-authenticated ingestion.
  APPLICATIONINSIGHTS_CONNECTION_STRING: monitoring.outputs.connectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.outputs.clientId};Authorization=AAD'
  // DefaultAzureCredential picks the user-assigned identity by this client ID.
  AZURE_CLIENT_ID: identity.outputs.clientId
  // The gateway.
  GATEWAY_PUBLIC_URL: gatewayPublicUrl
  KEY_VAULT_URL: keyVault.outputs.uri
  TABLES_ENDPOINT: storage.outputs.tableEndpoint
  TABLES_PREFIX: tablesPrefix
  AUTH_OIDC_ISSUERS: empty(oidcIssuers) ? defaultIssuers : oidcIssuers
  AUTH_OIDC_AUDIENCES: empty(oidcAudiences) ? '${gatewayAppClientId},${appIdUri}' : oidcAudiences
  AUTH_MAKER_ROLE: makerRole
  AUTH_ADMIN_ROLE: adminRole
  AUTH_CLOCK_SKEW_SECONDS: string(clockSkewSeconds)
  AUTH_SUBSCRIPTION_KEY_HEADER: subscriptionKeyHeader
  AUTH_SUBSCRIPTION_KEY_QUERY: subscriptionKeyQuery
  AUTH_OIDC_STATIC_ISSUERS: oidcStaticIssuers
  AUTH_OIDC_SIGNING_KEYS: oidcSigningKeys
  AUTH_ENTRA_TENANTS: entraTenants
  AUTH_REQUIRE_EXPIRATION: string(requireExpirationTime)
  AUTH_REQUIRED_CLAIMS: string(requiredClaims)
  AUTH_TOKEN_HEADER: tokenHeader
  AUTH_TOKEN_QUERY: tokenQuery
  AUTH_FAILED_VALIDATION_STATUS: string(failedValidationStatus)
  AUTH_FAILED_VALIDATION_MESSAGE: failedValidationMessage
  PROXY_CONNECT_TIMEOUT_SECONDS: string(proxyConnectTimeoutSeconds)
  PROXY_READ_TIMEOUT_SECONDS: string(proxyReadTimeoutSeconds)
  PROXY_MAX_BODY_BYTES: string(proxyMaxBodyBytes)
  PROXY_TOTAL_TIMEOUT: string(proxyTotalTimeoutSeconds)
  PROXY_MAX_RESPONSE_BYTES: string(proxyMaxResponseBytes)
  PROXY_ALLOWED_NETWORKS: proxyAllowedNetworks
  OAUTH_REFRESH_MARGIN_SECONDS: string(oauthRefreshMarginSeconds)
  OAUTH_REFRESH_BACKOFF_SECONDS: string(oauthRefreshBackoffSeconds)
  OAUTH_POST_LOGIN_REDIRECTS: oauthPostLoginRedirects
  SECRET_CACHE_SIZE: string(secretCacheSize)
  STORE_RETRIES: string(storeRetries)
  STORE_ATTEMPT_TIMEOUT_SECONDS: string(storeAttemptTimeoutSeconds)
  STORE_DEADLINE_SECONDS: string(storeDeadlineSeconds)
  LOG_LEVEL: logLevel
  AUTH_IP_ALLOW: ipAllow
  AUTH_IP_FORBID: ipForbid
  AUTH_TRUSTED_PROXY_HOPS: string(trustedProxyHops)
  AUTH_CLIENT_CERT_MODE: clientCertMode
  AUTH_CLIENT_CERT_CA: clientCertCa
  AUTH_CLIENT_CERT_IDENTITIES: string(clientCertIdentities)
  LIMIT_CONNECTION_CALLS_PER_MINUTE: '500' // Power Platform's per-connection default; 0 turns it off
}

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource siteAppSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  // This is the 'appsettings' config, not the 'web' config these checks read; the site's own settings are in modules/functionapp.bicep.
  // checkov:skip=CKV_AZURE_63: HTTP logging is a 'web' config property; on Flex Consumption requests are logged to Application Insights.
  // checkov:skip=CKV_AZURE_65: Detailed error pages are a 'web' config property and would expose internals to callers.
  // checkov:skip=CKV_AZURE_66: Failed request tracing is a 'web' config property (IIS); Flex Consumption logs failures to Application Insights.
  // checkov:skip=CKV_AZURE_80: .NET Framework version is a 'web' config property; the app runs Python.
  // checkov:skip=CKV_AZURE_13: The gateway validates Entra tokens and subscription keys itself; App Service Authentication would reject subscription-key callers.
  // checkov:skip=CKV_AZURE_88: Flex Consumption has no Azure Files content share; the package is in blob storage, read with the managed identity.
  // checkov:skip=CKV_AZURE_222: Public network access is set on the site (modules/functionapp.bicep), where it is justified.
  parent: site
  name: 'appsettings'
  properties: appSettings
  dependsOn: [
    functionApp
    roles
  ]
}

// ---------- Outputs ----------

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = entraTenantId
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output FUNCTION_APP_URL string = 'https://${functionApp.outputs.defaultHostName}'
output GATEWAY_PUBLIC_URL string = gatewayPublicUrl
@description('Register this redirect URL with every OAuth identity provider a connector uses.')
output OAUTH_REDIRECT_URL string = '${gatewayPublicUrl}/api/oauth/callback'
output KEY_VAULT_NAME string = keyVault.outputs.name
output KEY_VAULT_URL string = keyVault.outputs.uri
output STORAGE_ACCOUNT_NAME string = storage.outputs.name
output TABLES_ENDPOINT string = storage.outputs.tableEndpoint
output APPLICATION_INSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
output LOG_ANALYTICS_WORKSPACE_NAME string = monitoring.outputs.logAnalyticsName
output MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
