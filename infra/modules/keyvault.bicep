// Key Vault for connection secrets. Access is Azure RBAC only (no access policies);
// deleted secrets and the vault itself are recoverable and can't be purged early.

@description('Name of the vault (3-24 letters, digits and hyphens).')
param name string

@description('Azure region.')
param location string

@description('Tags for the vault.')
param tags object

@description('Days a deleted vault or secret stays recoverable.')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int

@description('Public network access to the vault.')
@allowed(['Enabled', 'Disabled'])
param publicNetworkAccess string

@description('Firewall default action for traffic that matches no rule.')
@allowed(['Allow', 'Deny'])
param networkDefaultAction string

@description('Public IPv4 addresses or CIDR ranges let through the firewall, e.g. an operator\'s workstation.')
param allowedIpRanges array

@description('Log Analytics workspace that receives the vault\'s audit log (who read or wrote which secret).')
param logAnalyticsWorkspaceId string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: The firewall is the keyVaultNetworkDefaultAction parameter. Without VNet integration a Flex Consumption app calls from shared, changing outbound addresses, so the default is Allow; with vnetEnabled=true it is Deny.
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: true
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: networkDefaultAction
      ipRules: [
        for ipRange in allowedIpRanges: {
          value: ipRange
        }
      ]
      virtualNetworkRules: []
    }
  }
}

resource auditLog 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'audit-to-log-analytics'
  scope: vault
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

output name string = vault.name
output id string = vault.id
output uri string = vault.properties.vaultUri
