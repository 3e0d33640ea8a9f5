// Private endpoints (and their private DNS zones) for the storage services the app uses
// and for Key Vault, so both can run with public network access disabled.

@description('Azure region of the endpoints.')
param location string

@description('Tags for the resources.')
param tags object

@description('Suffix that makes the endpoint names unique.')
param nameSuffix string

@description('Virtual network the private DNS zones are linked to.')
param vnetId string

@description('Subnet that holds the private endpoints.')
param subnetId string

@description('Storage account the blob, queue and table endpoints point at.')
param storageAccountId string

@description('Key Vault the vault endpoint points at.')
param keyVaultId string

@description('Private DNS zone of Key Vault; privatelink.vaultcore.azure.net in the public cloud.')
param keyVaultPrivateDnsZoneName string

var storageSuffix = environment().suffixes.storage

var endpoints = [
  {
    name: 'blob'
    groupId: 'blob'
    zone: 'privatelink.blob.${storageSuffix}'
    target: storageAccountId
  }
  {
    name: 'queue'
    groupId: 'queue'
    zone: 'privatelink.queue.${storageSuffix}'
    target: storageAccountId
  }
  {
    name: 'table'
    groupId: 'table'
    zone: 'privatelink.table.${storageSuffix}'
    target: storageAccountId
  }
  {
    name: 'vault'
    groupId: 'vault'
    zone: keyVaultPrivateDnsZoneName
    target: keyVaultId
  }
]

resource zones 'Microsoft.Network/privateDnsZones@2020-06-01' = [
  for endpoint in endpoints: {
    name: endpoint.zone
    location: 'global'
    tags: tags
  }
]

resource zoneLinks 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = [
  for (endpoint, i) in endpoints: {
    parent: zones[i]
    name: 'link-${nameSuffix}'
    location: 'global'
    tags: tags
    properties: {
      registrationEnabled: false
      virtualNetwork: {
        id: vnetId
      }
    }
  }
]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [
  for endpoint in endpoints: {
    name: 'pe-${endpoint.name}-${nameSuffix}'
    location: location
    tags: tags
    properties: {
      subnet: {
        id: subnetId
      }
      privateLinkServiceConnections: [
        {
          name: 'pe-${endpoint.name}-${nameSuffix}'
          properties: {
            privateLinkServiceId: endpoint.target
            groupIds: [
              endpoint.groupId
            ]
          }
        }
      ]
    }
  }
]

resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [
  for (endpoint, i) in endpoints: {
    parent: privateEndpoints[i]
    name: 'default'
    properties: {
      privateDnsZoneConfigs: [
        {
          name: endpoint.name
          properties: {
            privateDnsZoneId: zones[i].id
          }
        }
      ]
    }
  }
]
