// The SIP edge: the address room systems dial. A Flexible scale set of Debian 12 VMs across
// zones, each running Kamailio with edge/kamailio.cfg under the edge agent
// (dist/edge/agent/main.js), behind an Azure Standard Load Balancer with one static public
// IP. The load balancer only spreads flows over the edges (SIP over UDP, TCP and TLS); the
// edges place each call on the media host with the fewest calls, fail over, and stay on the
// signalling path (edge/README.md). Every edge shares one user-assigned identity, which reads
// the pool from the control plane (app role CVI.Edge) and nothing else.
//
// An instance boots from customData (cloud-init), as the media hosts do (mediahosts.bicep),
// with the same install and certificate scripts (infra/scripts/).

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Middle part of resource names, e.g. cvi-<suffix>: vmss-<namePrefix>-edge, and so on.')
param namePrefix string

@description('Availability zones to spread the edges and the load balancer\'s address over; empty in a region without zones.')
param zones array

@description('Number of edges (active/active behind the load balancer); 0 before the first grants (main.bicep startInstances).')
@minValue(0)
@maxValue(10)
param edgeCount int = 2

@description('VM size of the edges; it must support accelerated networking.')
param vmSize string

@description('DNS label of the edge\'s public IP: <label>.<region>.cloudapp.azure.com. It must start with a letter.')
param domainNameLabel string

@description('Admin user for SSH; password login is disabled.')
param adminUsername string

@description('OpenSSH public key (ssh-ed25519 or ssh-rsa ...) of the admin user.')
param adminSshPublicKeyData string

@description('Source (CIDR or service tag) allowed to reach SSH (TCP 22) from inside the virtual network (edges have no public address of their own). Empty: no SSH rule.')
param sshSourceAddressPrefix string = ''

@description('https URL of the app package: a .tgz of the built repository, with edge/kamailio.cfg. An Azure Blob URL is read with the identity; never a SAS URL (customData is not secret).')
param packageUrl string

@description('The control plane API base: https://<Function App host>/api (CONTROL_PLANE_URL).')
param controlPlaneUrl string

@description('Scope of the control plane API tokens: <admin API audience>/.default (CONTROL_PLANE_SCOPE).')
param controlPlaneScope string

@description('Resource ID of the edges\' subnet.')
param subnetId string

@description('Address prefix of the media hosts\' subnet, whose SIP (answers, in-dialog requests) the edges take.')
param mediaHostSubnetAddressPrefix string

@description('Key Vault secret URI of a PEM certificate (content type application/x-pem-file) for SIP over TLS. Empty: SIP over UDP and TCP only.')
param sipTlsCertificateSecretUri string = ''

// Ports: written to the env file, and opened in the NSG and the load balancer from the same values.
var sipPort = 5060
var sipTlsPort = 5061
var metricsPort = 9090

var envFilePath = '/etc/opencvi/edge.env'
var instanceEnvFilePath = '/run/opencvi/edge-instance.env'
var unitName = 'opencvi-edge.service'
// systemd makes /run/<runDirectoryName> for the service user (RuntimeDirectory=).
var runDirectoryName = 'opencvi-edge'
var sipTlsCertFile = '/etc/opencvi/tls/sip-cert.pem'
var sipTlsKeyFile = '/etc/opencvi/tls/sip-key.pem'
var tlsEnabled = !empty(sipTlsCertificateSecretUri)

var loadBalancerName = 'lb-${namePrefix}-edge'
var frontendName = 'sip'
var backendPoolName = 'edges'
var probeName = 'sip-tcp'

// The edge's settings (edge/agent/config.ts), the same on every instance.
var edgeEnvironment = {
  // The user-assigned identity, which holds the app role CVI.Edge.
  AZURE_CLIENT_ID: identity.properties.clientId
  CONTROL_PLANE_URL: controlPlaneUrl
  CONTROL_PLANE_SCOPE: controlPlaneScope
  // Devices reach the edges at the load balancer's address: Via and Record-Route carry it.
  EDGE_ADVERTISED_ADDRESS: publicIp.properties.ipAddress
  EDGE_SIP_PORT: sipPort
  EDGE_TLS_PORT: sipTlsPort
  EDGE_METRICS_PORT: metricsPort
  EDGE_RUN_DIRECTORY: '/run/${runDirectoryName}'
  POOL_SYNC_INTERVAL_MS: 1000
}

// The certificate files opencvi-tls-fetch writes before each start.
var tlsEnvironment = tlsEnabled
  ? {
      EDGE_TLS_CERT_FILE: sipTlsCertFile
      EDGE_TLS_KEY_FILE: sipTlsKeyFile
    }
  : {}

// Each instance's own settings, read from IMDS at every start (opencvi-instance-env).
var instanceSettings = {
  // The VM's name, in logs.
  EDGE_ID: 'vm-name'
  // Kamailio binds SIP to the VM's own address (not 0.0.0.0); the load balancer sends the
  // flows for its public address there.
  EDGE_SIP_ADDRESS: 'private-ip'
}
var instanceSettingArguments = join(map(items(instanceSettings), setting => '${setting.key}=${setting.value}'), ' ')

var debianPackages = [
  'kamailio' // the SIP proxy; its own service is masked: the agent runs it in the foreground
  'kamailio-tls-modules' // tls.so, for SIP over TLS
  'nodejs' // Debian 12's Node 18 runs npm only; the agent runs on the Node its package.json pins
  'npm'
]

var unitFile = join(
  concat(
    [
      '[Unit]'
      'Description=OpenCVI SIP edge (Kamailio and its agent)'
      'Wants=network-online.target'
      'After=network-online.target'
      'StartLimitIntervalSec=0'
      ''
      '[Service]'
      'Type=simple'
      'User=opencvi'
      'Group=opencvi'
      'WorkingDirectory=/opt/opencvi/current'
      'EnvironmentFile=${envFilePath}'
      // Written by the first ExecStartPre; optional here because systemd reads it for that
      // command too, before it exists.
      'EnvironmentFile=-${instanceEnvFilePath}'
      // Kamailio's pid file, ctl socket (kamcmd) and dispatcher list (EDGE_RUN_DIRECTORY).
      'RuntimeDirectory=${runDirectoryName}'
      'RuntimeDirectoryMode=0750'
      // As root (+): IMDS, then the file.
      'ExecStartPre=+/usr/local/sbin/opencvi-instance-env ${instanceEnvFilePath} ${instanceSettingArguments}'
    ],
    // As root (+): reads Key Vault with the identity, writes the files the service user reads.
    tlsEnabled ? ['ExecStartPre=+/usr/local/sbin/opencvi-tls-fetch ${sipTlsCertificateSecretUri} ${identity.properties.clientId}'] : [],
    [
      'ExecStart=/opt/opencvi/current/runtime/bin/node dist/edge/agent/main.js'
      // SIGTERM to the agent, which stops Kamailio; Kamailio dies with it in any case.
      'KillSignal=SIGTERM'
      'KillMode=mixed'
      'TimeoutStopSec=30'
      // Always: the edge is stateless for the calls it routes (the hosts hold them), and
      // the agent exits when Kamailio does.
      'Restart=always'
      'RestartSec=2'
      'LimitNOFILE=65536'
      ''
      '[Install]'
      'WantedBy=multi-user.target'
      ''
    ]
  ),
  '\n'
)

// cloud-init files: the unit, the scripts (infra/scripts/, shared with the media hosts), role, settings.
var bootFiles = [
  {
    path: '/etc/systemd/system/${unitName}'
    permissions: '0644'
    encoding: 'b64'
    content: base64(unitFile)
  }
  {
    path: '/usr/local/sbin/opencvi-install'
    permissions: '0755'
    encoding: 'b64'
    content: base64(loadTextContent('../scripts/opencvi-install.sh'))
  }
  {
    path: '/usr/local/sbin/opencvi-tls-fetch'
    permissions: '0755'
    encoding: 'b64'
    content: base64(loadTextContent('../scripts/opencvi-tls-fetch.sh'))
  }
  {
    path: '/usr/local/sbin/opencvi-instance-env'
    permissions: '0755'
    encoding: 'b64'
    content: base64(loadTextContent('../scripts/opencvi-instance-env.py'))
  }
  {
    // opencvi-install reads the role: which service and entry point.
    path: '/etc/opencvi/role'
    permissions: '0644'
    encoding: 'b64'
    content: base64('edge\n')
  }
  {
    path: envFilePath
    permissions: '0644'
    encoding: 'b64'
    content: base64(format('{0}\n', join(map(items(union(edgeEnvironment, tlsEnvironment)), setting => '${setting.key}=${setting.value}'), '\n')))
  }
]

var bootCommands = [
  // Kamailio never runs as the system service: the agent starts it with edge/kamailio.cfg.
  ['systemctl', 'disable', '--now', 'kamailio.service']
  ['systemctl', 'mask', 'kamailio.service']
  // Tries for an hour: a Blob package is readable only once the operator has granted the
  // identity Storage Blob Data Reader (infra/README.md).
  [
    'sh'
    '-c'
    'for attempt in $(seq 60); do /usr/local/sbin/opencvi-install "$0" && exit 0; sleep 60; done; exit 1'
    packageUrl
  ]
]

// SIP from the internet (devices), through the load balancer, which keeps the source address,
// and from the media hosts; the load balancer's health probe; metrics from inside; nothing else.
var sipRules = [
  {
    name: 'allow-sip-udp'
    properties: {
      priority: 100
      direction: 'Inbound'
      access: 'Allow'
      protocol: 'Udp'
      sourceAddressPrefix: 'Internet'
      sourcePortRange: '*'
      destinationAddressPrefix: '*'
      destinationPortRange: '${sipPort}'
    }
  }
  {
    name: 'allow-sip-tcp-tls'
    properties: {
      priority: 110
      direction: 'Inbound'
      access: 'Allow'
      protocol: 'Tcp'
      sourceAddressPrefix: 'Internet'
      sourcePortRange: '*'
      destinationAddressPrefix: '*'
      destinationPortRanges: [
        '${sipPort}'
        '${sipTlsPort}'
      ]
    }
  }
  {
    // The media hosts answer the edges, and send their in-dialog requests (BYE, INFO), over
    // the private network.
    name: 'allow-sip-from-media-hosts'
    properties: {
      priority: 115
      direction: 'Inbound'
      access: 'Allow'
      protocol: '*'
      sourceAddressPrefix: mediaHostSubnetAddressPrefix
      sourcePortRange: '*'
      destinationAddressPrefix: '*'
      destinationPortRange: '${sipPort}'
    }
  }
  {
    name: 'allow-load-balancer-probe'
    properties: {
      priority: 120
      direction: 'Inbound'
      access: 'Allow'
      protocol: 'Tcp'
      sourceAddressPrefix: 'AzureLoadBalancer'
      sourcePortRange: '*'
      destinationAddressPrefix: '*'
      destinationPortRange: '${sipPort}'
    }
  }
  {
    name: 'allow-metrics-vnet'
    properties: {
      priority: 130
      direction: 'Inbound'
      access: 'Allow'
      protocol: 'Tcp'
      sourceAddressPrefix: 'VirtualNetwork'
      sourcePortRange: '*'
      destinationAddressPrefix: '*'
      destinationPortRange: '${metricsPort}'
    }
  }
  {
    // Ahead of Azure's default rules, which would let anything in from the virtual network.
    name: 'deny-all-inbound'
    properties: {
      priority: 4096
      direction: 'Inbound'
      access: 'Deny'
      protocol: '*'
      sourceAddressPrefix: '*'
      sourcePortRange: '*'
      destinationAddressPrefix: '*'
      destinationPortRange: '*'
    }
  }
]

var sshRules = empty(sshSourceAddressPrefix)
  ? []
  : [
      {
        name: 'allow-ssh'
        properties: {
          priority: 150
          direction: 'Inbound'
          access: 'Allow'
          protocol: 'Tcp'
          sourceAddressPrefix: sshSourceAddressPrefix
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: '22'
        }
      }
    ]

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${namePrefix}-edges'
  location: location
  tags: tags
}

resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${namePrefix}-edges'
  location: location
  tags: tags
  properties: {
    securityRules: concat(sipRules, sshRules)
  }
}

// What devices dial (EDGE_ADVERTISED_ADDRESS): static, zone-redundant where the region has zones.
resource publicIp 'Microsoft.Network/publicIPAddresses@2024-05-01' = {
  name: 'pip-${namePrefix}-edge'
  location: location
  tags: tags
  zones: zones
  sku: {
    name: 'Standard'
    tier: 'Regional'
  }
  properties: {
    publicIPAllocationMethod: 'Static'
    publicIPAddressVersion: 'IPv4'
    dnsSettings: {
      domainNameLabel: domainNameLabel
    }
  }
}

resource loadBalancer 'Microsoft.Network/loadBalancers@2024-05-01' = {
  name: loadBalancerName
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Regional'
  }
  properties: {
    frontendIPConfigurations: [
      {
        name: frontendName
        properties: {
          publicIPAddress: {
            id: publicIp.id
          }
        }
      }
    ]
    backendAddressPools: [
      {
        name: backendPoolName
      }
    ]
    // An edge that stops accepting SIP over TCP gets no new flows (within ~10 s); Standard
    // keeps its established TCP flows.
    probes: [
      {
        name: probeName
        properties: {
          protocol: 'Tcp'
          port: sipPort
          intervalInSeconds: 5
          probeThreshold: 2
        }
      }
    ]
    // Floating IP off: the edges bind their own private address, which the load balancer
    // sends the flows to. Outbound SNAT off: the outbound rule below does it.
    loadBalancingRules: [
      {
        name: 'sip-udp'
        properties: {
          frontendIPConfiguration: {
            id: resourceId('Microsoft.Network/loadBalancers/frontendIPConfigurations', loadBalancerName, frontendName)
          }
          backendAddressPool: {
            id: resourceId('Microsoft.Network/loadBalancers/backendAddressPools', loadBalancerName, backendPoolName)
          }
          probe: {
            id: resourceId('Microsoft.Network/loadBalancers/probes', loadBalancerName, probeName)
          }
          protocol: 'Udp'
          frontendPort: sipPort
          backendPort: sipPort
          enableFloatingIP: false
          disableOutboundSnat: true
        }
      }
      {
        name: 'sip-tcp'
        properties: {
          frontendIPConfiguration: {
            id: resourceId('Microsoft.Network/loadBalancers/frontendIPConfigurations', loadBalancerName, frontendName)
          }
          backendAddressPool: {
            id: resourceId('Microsoft.Network/loadBalancers/backendAddressPools', loadBalancerName, backendPoolName)
          }
          probe: {
            id: resourceId('Microsoft.Network/loadBalancers/probes', loadBalancerName, probeName)
          }
          protocol: 'Tcp'
          frontendPort: sipPort
          backendPort: sipPort
          enableFloatingIP: false
          disableOutboundSnat: true
          // A room system keeps one connection for a call that may last hours, quiet between
          // refreshes: the longest idle time, and a reset to both ends when it runs out.
          idleTimeoutInMinutes: 100
          enableTcpReset: true
        }
      }
      {
        name: 'sip-tls'
        properties: {
          frontendIPConfiguration: {
            id: resourceId('Microsoft.Network/loadBalancers/frontendIPConfigurations', loadBalancerName, frontendName)
          }
          backendAddressPool: {
            id: resourceId('Microsoft.Network/loadBalancers/backendAddressPools', loadBalancerName, backendPoolName)
          }
          probe: {
            id: resourceId('Microsoft.Network/loadBalancers/probes', loadBalancerName, probeName)
          }
          protocol: 'Tcp'
          frontendPort: sipTlsPort
          backendPort: sipTlsPort
          enableFloatingIP: false
          disableOutboundSnat: true
          idleTimeoutInMinutes: 100
          enableTcpReset: true
        }
      }
    ]
    // The edges have no public address of their own: they reach the control plane, Debian
    // and npm through the load balancer's address.
    outboundRules: [
      {
        name: 'edges-outbound'
        properties: {
          protocol: 'All'
          frontendIPConfigurations: [
            {
              id: resourceId('Microsoft.Network/loadBalancers/frontendIPConfigurations', loadBalancerName, frontendName)
            }
          ]
          backendAddressPool: {
            id: resourceId('Microsoft.Network/loadBalancers/backendAddressPools', loadBalancerName, backendPoolName)
          }
          // 4,000 SNAT ports per edge: room for 16 edges on the one address.
          allocatedOutboundPorts: 4000
          idleTimeoutInMinutes: 30
          enableTcpReset: true
        }
      }
    ]
  }
}

resource scaleSet 'Microsoft.Compute/virtualMachineScaleSets@2024-07-01' = {
  name: 'vmss-${namePrefix}-edge'
  location: location
  tags: tags
  zones: zones
  sku: {
    name: vmSize
    tier: 'Standard'
    capacity: edgeCount
  }
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    orchestrationMode: 'Flexible'
    platformFaultDomainCount: 1
    singlePlacementGroup: false
    virtualMachineProfile: {
      storageProfile: {
        imageReference: {
          publisher: 'Debian'
          offer: 'debian-12'
          sku: '12-gen2'
          version: 'latest'
        }
        osDisk: {
          createOption: 'FromImage'
          deleteOption: 'Delete'
          managedDisk: {
            storageAccountType: 'Premium_LRS'
          }
        }
      }
      osProfile: {
        computerNamePrefix: 'edge'
        adminUsername: adminUsername
        linuxConfiguration: {
          disablePasswordAuthentication: true
          ssh: {
            publicKeys: [
              {
                path: '/home/${adminUsername}/.ssh/authorized_keys'
                keyData: adminSshPublicKeyData
              }
            ]
          }
        }
        // cloud-config as JSON (valid YAML); every file's content is base64.
        customData: base64(format(
          '#cloud-config\n{0}\n',
          string({
            package_update: true
            packages: debianPackages
            write_files: bootFiles
            runcmd: bootCommands
          })
        ))
      }
      networkProfile: {
        networkApiVersion: '2022-11-01'
        networkInterfaceConfigurations: [
          {
            name: 'nic'
            properties: {
              primary: true
              enableAcceleratedNetworking: true
              deleteOption: 'Delete'
              networkSecurityGroup: {
                id: nsg.id
              }
              ipConfigurations: [
                {
                  name: 'ipconfig1'
                  properties: {
                    primary: true
                    privateIPAddressVersion: 'IPv4'
                    subnet: {
                      id: subnetId
                    }
                    loadBalancerBackendAddressPools: [
                      {
                        id: '${loadBalancer.id}/backendAddressPools/${backendPoolName}'
                      }
                    ]
                  }
                }
              ]
            }
          }
        ]
      }
      diagnosticsProfile: {
        bootDiagnostics: {
          enabled: true
        }
      }
    }
  }
}

@description('Name of the edges\' scale set.')
output scaleSetName string = scaleSet.name

@description('The edge\'s public IP address: what devices dial.')
output publicIpAddress string = publicIp.properties.ipAddress

@description('DNS name of the edge\'s public IP address.')
output fqdn string = publicIp.properties.dnsSettings.fqdn

@description('Principal ID of the edges\' identity: assign it the CVI.Edge app role (infra/README.md).')
output principalId string = identity.properties.principalId

@description('Client ID of the edges\' identity (their AZURE_CLIENT_ID).')
output clientId string = identity.properties.clientId
