// The virtual network of the SIP edges and the media hosts: one subnet each. The edges reach
// the hosts' SIP over it (the hosts let SIP in from the edge subnet only), and the hosts trust
// the edge subnet's addresses as proxies. Each scale set puts its own network security group
// on its instances' NICs (edge.bicep, mediahosts.bicep), next to the ports it opens.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Middle part of resource names, e.g. cvi-<suffix>: vnet-<namePrefix>.')
param namePrefix string

@description('Address space of the virtual network.')
param vnetAddressPrefix string

@description('Subnet of the media hosts, inside vnetAddressPrefix; it bounds the pool (a /24 holds 251 hosts).')
param mediaHostSubnetAddressPrefix string

@description('Subnet of the SIP edges, inside vnetAddressPrefix; the media hosts take SIP from it only.')
param edgeSubnetAddressPrefix string

var mediaHostSubnetName = 'media-hosts'
var edgeSubnetName = 'edges'

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: 'vnet-${namePrefix}'
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        vnetAddressPrefix
      ]
    }
    // Both subnets here, in the one declaration: subnets declared as child resources would be
    // deleted by the next deployment of a VNet without them.
    subnets: [
      {
        name: mediaHostSubnetName
        properties: {
          addressPrefix: mediaHostSubnetAddressPrefix
        }
      }
      {
        name: edgeSubnetName
        properties: {
          addressPrefix: edgeSubnetAddressPrefix
        }
      }
    ]
  }
}

output vnetName string = vnet.name
output mediaHostSubnetId string = '${vnet.id}/subnets/${mediaHostSubnetName}'
output edgeSubnetId string = '${vnet.id}/subnets/${edgeSubnetName}'
