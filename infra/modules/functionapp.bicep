// The gateway's Function App on the Flex Consumption plan (Linux, Python). The deployment
// package is read with the user-assigned identity; FTP and basic-auth publishing are off.
// App settings are written by main.bicep, which needs this app's host name to build them.

@description('Name of the function app; also its default host name prefix.')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region.')
param location string

@description('Tags for the plan and the app.')
param tags object

@description('azd service name in azure.yaml; azd finds the app by this tag.')
param azdServiceName string

@description('Resource ID of the user-assigned identity the app runs as.')
param identityId string

@description('URL of the blob container that holds the deployment package.')
param deploymentContainerUrl string

@description('Python version of the Functions runtime; the version the code runs on.')
@allowed(['3.10', '3.11', '3.12'])
param pythonVersion string

@description('Memory of one instance in MB.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int

@description('Most instances the app scales out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('Subnet the app integrates with; empty for no VNet integration.')
param subnetId string

@description('Spread instances across availability zones; only in regions where Flex Consumption offers it.')
param zoneRedundant bool

@description('AUTH_CLIENT_CERT_MODE: off, optional or required. App Service asks for the TLS client certificate and forwards it in X-ARR-ClientCert; without this a caller could send that header itself.')
@allowed(['off', 'optional', 'required'])
param clientCertMode string = 'off'

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  // checkov:skip=CKV_AZURE_225: Zone redundancy is the zoneRedundant parameter, off by default because Flex Consumption offers it in a subset of regions only and turning it on elsewhere fails the deployment.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  // checkov:skip=CKV_AZURE_17: Client certificates follow the clientCertMode parameter (off by default): Power Platform connectors and Logic Apps authenticate with Entra bearer tokens or subscription keys and can't present one.
  // checkov:skip=CKV_AZURE_222: Power Platform calls the gateway over the internet, so its endpoint is public. Its backends (storage, Key Vault) go private with vnetEnabled=true.
  // checkov:skip=CKV_AZURE_212: Flex Consumption manages instance counts itself (scale to zero, maximumInstanceCount); it has no minimum worker count.
  // checkov:skip=CKV_AZURE_213: Flex Consumption does not support the App Service health check; failures show in Application Insights.
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': azdServiceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: clientCertMode != 'off'
    clientCertMode: clientCertMode == 'required' ? 'Required' : 'Optional'
    // Browser pages (sign-in start page and callback) and load-balancer probes carry no certificate.
    clientCertExclusionPaths: '/api/oauth/start;/api/oauth/callback;/api/health'
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: identityId
    virtualNetworkSubnetId: empty(subnetId) ? null : subnetId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// Basic-auth (user/password) publishing off for FTP and the SCM site; azd and the CLI deploy with Entra tokens.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
