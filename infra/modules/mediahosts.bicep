// Media hosts: a pool of Debian 12 VMs in a Flexible scale set across zones, scaled on the
// pool's CPU. Each instance has its own public IP, which devices' media (RTP) and Teams'
// media servers (the meeting leg) reach; SIP comes only from the edges, over the private
// network. Every instance shares one user-assigned identity that receives from its own
// session of the call events queue and calls the control plane, and runs the media host
// (dist/media-host/main.js) under systemd with the settings media-host/config.ts reads.
//
// An instance boots from customData (cloud-init): Debian packages, the app package from
// packageUrl, the env file, the units. customData holds no secrets (anyone who can read the
// scale set's model can read it). What differs per instance (its id, addresses) is read at
// each start from the Instance Metadata Service by opencvi-instance-env.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Middle part of resource names, e.g. cvi-<suffix>: vmss-<namePrefix>-mh, and so on.')
param namePrefix string

@description('Availability zones to spread the instances over; empty in a region without zones.')
param zones array

@description('VM size. It must support accelerated networking.')
param vmSize string

@description('Fewest instances: autoscale never goes below, and the pool starts with this many.')
@minValue(1)
@maxValue(200)
param minCount int

@description('Most instances autoscale may run; the subnet must hold them.')
@minValue(1)
@maxValue(200)
param maxCount int

@description('Instances this deployment sets (autoscale then moves the count between minCount and maxCount); 0: minCount.')
@minValue(0)
@maxValue(200)
param instanceCount int = 0

@description('false: no instance (capacity 0, autoscale off), as for a first deployment before the app role is granted.')
param startInstances bool = true

@description('Calls one media host takes at most (MAX_CALLS): the edges send it no more, and it refuses more with 503.')
@minValue(1)
@maxValue(100000)
param maxCalls int

@description('Admin user for SSH; password login is disabled.')
param adminUsername string

@description('OpenSSH public key (ssh-ed25519 or ssh-rsa ...) of the admin user.')
param adminSshPublicKeyData string

@description('Source (CIDR or service tag) allowed to reach SSH (TCP 22). Empty: no SSH rule, inbound SSH is denied.')
param sshSourceAddressPrefix string = ''

@description('https URL of the app package: a .tgz of the built repository. An Azure Blob URL is read with the identity; never a SAS URL (customData is not secret).')
param packageUrl string

@description('The control plane API base: https://<Function App host>/api (CONTROL_PLANE_URL).')
param controlPlaneUrl string

@description('Scope of the control plane API tokens: <admin API audience>/.default (CONTROL_PLANE_SCOPE).')
param controlPlaneScope string

@description('Service Bus namespace host, <name>.servicebus.windows.net (SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE).')
param serviceBusFullyQualifiedNamespace string

@description('Service Bus namespace name, for the receiver role assignment.')
param serviceBusNamespaceName string

@description('The session-enabled queue of call events (SERVICE_BUS_QUEUE); each host holds the session named by its id.')
param eventsQueueName string

@description('DNS name devices dial, e.g. cvi.example.net (SERVICE_DOMAIN).')
param serviceDomain string

@description('Resource ID of the media hosts\' subnet.')
param subnetId string

@description('Address prefix of the SIP edges\' subnet: the only source of SIP the hosts take, and their trusted proxies (SIP_TRUSTED_PROXIES).')
param edgeSubnetAddressPrefix string

@description('The edge\'s public IP address, which devices dial (one of SIP_SERVICE_HOSTS).')
param edgePublicIpAddress string

@description('The DNS name of the edge\'s public IP address (one of SIP_SERVICE_HOSTS).')
param edgeFqdn string

@description('Key Vault secret URI of a PEM certificate (content type application/x-pem-file) for SIP over TLS and the meeting leg\'s HTTPS. Empty: no TLS settings.')
param sipTlsCertificateSecretUri string = ''

@description('On stop: how long calls may go on before they are ended (DRAIN_GRACE_MS); systemd waits 30 s more.')
@minValue(0)
@maxValue(86400)
param drainGraceSeconds int = 300

// Ports: written to the env file and opened in the NSG from the same values.
var sipPort = 5060
var sipTlsPort = 5061
var rtpPortMin = 30000
var rtpPortMax = 40000
var healthPort = 8090
// The meeting leg: its session endpoint (HTTPS with the SIP certificate) and WebRTC (ICE) ports.
var meetingLegPort = 8443
var webRtcPortMin = 40001
var webRtcPortMax = 50000
// Content sharing's BFCP: UDP or TCP, a port per call with a floor, straight from the devices (as their media).
var bfcpPortMin = 50001
var bfcpPortMax = 51000

var envFilePath = '/etc/opencvi/media-host.env'
var instanceEnvFilePath = '/run/opencvi/media-host-instance.env'
var unitName = 'opencvi-media-host.service'
var drainUnitName = 'opencvi-drain-on-terminate.service'
var sipTlsCertFile = '/etc/opencvi/tls/sip-cert.pem'
var sipTlsKeyFile = '/etc/opencvi/tls/sip-key.pem'
var tlsEnabled = !empty(sipTlsCertificateSecretUri)

// A scale-in (or delete) announces itself this long before the VM goes: long enough for the
// drain (DRAIN_GRACE_MS, then systemd's 30 s), within Azure's 5-15 minutes.
var terminateNoticeMinutes = min(15, max(5, (drainGraceSeconds + 30) / 60 + 2))

// Autoscale on the pool's load: the average CPU across the instances.
var scaleOutCpuPercent = 60
var scaleInCpuPercent = 25
// Out by two at a time (a new host needs a few minutes to boot and install before it takes
// calls), then wait for them to take load; in by one, slowly, each leaving host draining first.
var scaleOutStep = 2
var scaleOutCooldown = 'PT10M'
var scaleInStep = 1
var scaleInCooldown = 'PT15M'

// The media host's settings (media-host/config.ts), the same on every instance. No
// SERVICE_BUS_ENDPOINT: that is for local stand-ins.
var hostEnvironment = {
  // The user-assigned identity, shared by every instance (the scale set has no other).
  AZURE_CLIENT_ID: identity.properties.clientId
  CONTROL_PLANE_URL: controlPlaneUrl
  CONTROL_PLANE_SCOPE: controlPlaneScope
  SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE: serviceBusFullyQualifiedNamespace
  SERVICE_BUS_QUEUE: eventsQueueName
  SERVICE_DOMAIN: serviceDomain
  // The edges send calls over UDP to SIP_CONTACT_HOST; their requests carry the device's
  // address in the next Via.
  SIP_EDGE_TRANSPORT: 'udp'
  SIP_TRUSTED_PROXIES: edgeSubnetAddressPrefix
  // Request-URIs with these hosts are ours (a device dialing the edge's address or name).
  SIP_SERVICE_HOSTS: join([edgePublicIpAddress, serviceDomain, edgeFqdn], ',')
  MAX_CALLS: maxCalls
  SIP_PORT: sipPort
  SIP_TLS_PORT: sipTlsPort
  RTP_PORT_MIN: rtpPortMin
  RTP_PORT_MAX: rtpPortMax
  HEALTH_PORT: healthPort
  MEETING_LEG_PORT: meetingLegPort
  WEBRTC_PORT_MIN: webRtcPortMin
  WEBRTC_PORT_MAX: webRtcPortMax
  BFCP_PORT_MIN: bfcpPortMin
  BFCP_PORT_MAX: bfcpPortMax
  PROMPTS_DIRECTORY: '/var/lib/opencvi/prompts'
  DRAIN_GRACE_MS: drainGraceSeconds * 1000
}

// The certificate files opencvi-tls-fetch writes before each start.
var tlsEnvironment = tlsEnabled
  ? {
      SIP_TLS_CERT_FILE: sipTlsCertFile
      SIP_TLS_KEY_FILE: sipTlsKeyFile
    }
  : {}

// Each instance's own settings, read from IMDS at every start (opencvi-instance-env,
// infra/scripts/opencvi-instance-env.py): setting name -> where its value comes from.
var instanceSettings = {
  // The VM's name: the host's id in the pool and its session in the queue.
  MEDIA_HOST_ID: 'vm-name'
  // The private address, not 0.0.0.0: the media host hands SIP_BIND_HOST to rtpengine as its
  // media interface (address!advertised address), and rtpengine refuses 0.0.0.0 there. Azure
  // maps the instance's public IP 1:1 onto it.
  SIP_BIND_HOST: 'private-ip'
  // Where the edges reach the host: Via, Contact and the SIP URI it registers in the pool.
  SIP_CONTACT_HOST: 'private-ip'
  // Where devices and Teams reach its media: SDP, and the meeting leg's URL.
  SIP_ADVERTISED_HOST: 'public-ip'
}
var instanceSettingArguments = join(map(items(instanceSettings), setting => '${setting.key}=${setting.value}'), ' ')

var debianPackages = [
  'rtpengine-daemon' // rtpengine; the media host runs its own instance, the package's service is masked
  'espeak-ng' // speaks the IVR prompts at install
  'nodejs' // Debian 12's Node 18 runs npm only; the app runs on the Node its package.json pins
  'npm'
]

var unitFile = join(
  concat(
    [
      '[Unit]'
      'Description=OpenCVI media host (SIP, rtpengine, call events from Service Bus)'
      'Wants=network-online.target'
      'After=network-online.target'
      // Keep trying, e.g. while the identity cannot read its address or the certificate yet.
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
      // As root (+): IMDS and Resource Manager with the identity, then the file.
      'ExecStartPre=+/usr/local/sbin/opencvi-instance-env --client-id ${identity.properties.clientId} --resource-manager ${environment().resourceManager} ${instanceEnvFilePath} ${instanceSettingArguments}'
    ],
    // As root (+): reads Key Vault with the identity, writes the files the service user reads.
    tlsEnabled ? ['ExecStartPre=+/usr/local/sbin/opencvi-tls-fetch ${sipTlsCertificateSecretUri} ${identity.properties.clientId}'] : [],
    [
      'ExecStart=/opt/opencvi/current/runtime/bin/node dist/media-host/main.js'
      // SIGTERM drains (media-host/main.ts): no new calls, the current ones go on for
      // DRAIN_GRACE_MS, then they are ended cleanly, the host leaves the pool and exits 0.
      // That covers stop, restart, upgrade, VM shutdown and (opencvi-drain-on-terminate) a
      // scale-in.
      'KillSignal=SIGTERM'
      // SIGTERM to the Node process only: it stops its rtpengine after the drain. The default
      // (control-group) would stop rtpengine at once and cut the media of draining calls.
      'KillMode=mixed'
      'TimeoutStopSec=${drainGraceSeconds + 30}'
      // Not always: a drained host (the operator's drain, or SIGTERM) exits 0 and stays down
      // until its instance is reimaged or removed; a crash or a failed start is retried.
      'Restart=on-failure'
      'RestartSec=5'
      // rtpengine holds two ports per media stream.
      'LimitNOFILE=65536'
      // rtpengine's media threads run SCHED_RR (RTPENGINE_REALTIME_PRIORITY, default 10, at most this):
      // a stall lets rtpengine 10.5 stop reading a port for the rest of its call.
      'LimitRTPRIO=50'
      ''
      '[Install]'
      'WantedBy=multi-user.target'
      ''
    ]
  ),
  '\n'
)

// Drains the host when Azure schedules its VM's end (the scale set's terminate notification).
var drainUnitFile = join(
  [
    '[Unit]'
    'Description=OpenCVI: drain the media host before Azure takes its VM away (scheduled events)'
    'Wants=network-online.target'
    'After=network-online.target'
    'StartLimitIntervalSec=0'
    ''
    '[Service]'
    'Type=simple'
    'ExecStart=/usr/local/sbin/opencvi-drain-on-terminate ${unitName}'
    'Restart=always'
    'RestartSec=5'
    ''
    '[Install]'
    'WantedBy=multi-user.target'
    ''
  ],
  '\n'
)

// cloud-init files: units, scripts (infra/scripts/, shared with the edges), role, settings.
var bootFiles = [
  {
    path: '/etc/systemd/system/${unitName}'
    permissions: '0644'
    encoding: 'b64'
    content: base64(unitFile)
  }
  {
    path: '/etc/systemd/system/${drainUnitName}'
    permissions: '0644'
    encoding: 'b64'
    content: base64(drainUnitFile)
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
    path: '/usr/local/sbin/opencvi-drain-on-terminate'
    permissions: '0755'
    encoding: 'b64'
    content: base64(loadTextContent('../scripts/opencvi-drain-on-terminate.py'))
  }
  {
    // opencvi-install reads the role: which service, which entry point, prompts or not.
    path: '/etc/opencvi/role'
    permissions: '0644'
    encoding: 'b64'
    content: base64('media-host\n')
  }
  {
    path: envFilePath
    permissions: '0644'
    encoding: 'b64'
    content: base64(format('{0}\n', join(map(items(union(hostEnvironment, tlsEnvironment)), setting => '${setting.key}=${setting.value}'), '\n')))
  }
]

var bootCommands = [
  // The package's own rtpengine would hold the RTP ports; the media host supervises its own.
  ['systemctl', 'disable', '--now', 'rtpengine-daemon.service']
  ['systemctl', 'mask', 'rtpengine-daemon.service']
  ['systemctl', 'daemon-reload']
  ['systemctl', 'enable', '--now', drainUnitName]
  // Tries for an hour: a Blob package is readable only once the operator has granted the
  // identity Storage Blob Data Reader (infra/README.md). Azure counts the instance as
  // provisioned before this runs, so the deployment does not wait for it.
  [
    'sh'
    '-c'
    'for attempt in $(seq 60); do /usr/local/sbin/opencvi-install "$0" && exit 0; sleep 60; done; exit 1'
    packageUrl
  ]
]

// SIP only from the edges (devices dial the edge, never a host); media from anywhere: RTP
// from devices, the meeting leg (session endpoint and WebRTC) from Teams' media servers;
// health and metrics only from inside; nothing else.
var sipAndMediaRules = [
  {
    name: 'allow-sip-udp-from-edges'
    properties: {
      priority: 100
      direction: 'Inbound'
      access: 'Allow'
      protocol: 'Udp'
      sourceAddressPrefix: edgeSubnetAddressPrefix
      sourcePortRange: '*'
      destinationAddressPrefix: '*'
      destinationPortRange: '${sipPort}'
    }
  }
  {
    name: 'allow-sip-tcp-tls-from-edges'
    properties: {
      priority: 110
      direction: 'Inbound'
      access: 'Allow'
      protocol: 'Tcp'
      sourceAddressPrefix: edgeSubnetAddressPrefix
      sourcePortRange: '*'
      destinationAddressPrefix: '*'
      destinationPortRanges: [
        '${sipPort}'
        '${sipTlsPort}'
      ]
    }
  }
  {
    name: 'allow-rtp-udp'
    properties: {
      priority: 120
      direction: 'Inbound'
      access: 'Allow'
      protocol: 'Udp'
      sourceAddressPrefix: '*'
      sourcePortRange: '*'
      destinationAddressPrefix: '*'
      destinationPortRange: '${rtpPortMin}-${rtpPortMax}'
    }
  }
  {
    name: 'allow-meeting-leg-https'
    properties: {
      priority: 123
      direction: 'Inbound'
      access: 'Allow'
      protocol: 'Tcp'
      sourceAddressPrefix: '*'
      sourcePortRange: '*'
      destinationAddressPrefix: '*'
      destinationPortRange: '${meetingLegPort}'
    }
  }
  {
    name: 'allow-webrtc-udp'
    properties: {
      priority: 126
      direction: 'Inbound'
      access: 'Allow'
      protocol: 'Udp'
      sourceAddressPrefix: '*'
      sourcePortRange: '*'
      destinationAddressPrefix: '*'
      destinationPortRange: '${webRtcPortMin}-${webRtcPortMax}'
    }
  }
  {
    name: 'allow-bfcp'
    properties: {
      priority: 127
      direction: 'Inbound'
      access: 'Allow'
      protocol: '*'
      sourceAddressPrefix: '*'
      sourcePortRange: '*'
      destinationAddressPrefix: '*'
      destinationPortRange: '${bfcpPortMin}-${bfcpPortMax}'
    }
  }
  {
    name: 'allow-health-vnet'
    properties: {
      priority: 130
      direction: 'Inbound'
      access: 'Allow'
      protocol: 'Tcp'
      sourceAddressPrefix: 'VirtualNetwork'
      sourcePortRange: '*'
      destinationAddressPrefix: '*'
      destinationPortRange: '${healthPort}'
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

// One identity for the whole pool: its grants (Service Bus, Reader, the CVI.MediaHost app
// role, Key Vault, Blob) are made once and hold for every instance autoscale adds.
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${namePrefix}-media-hosts'
  location: location
  tags: tags
}

// On every instance's NIC (the subnet carries none).
resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${namePrefix}-media-hosts'
  location: location
  tags: tags
  properties: {
    securityRules: concat(sipAndMediaRules, sshRules)
  }
}

resource scaleSet 'Microsoft.Compute/virtualMachineScaleSets@2024-07-01' = {
  name: 'vmss-${namePrefix}-mh'
  location: location
  tags: tags
  zones: zones
  sku: {
    name: vmSize
    tier: 'Standard'
    // A deployment sets the count; autoscale moves it afterwards (see instanceCount).
    capacity: !startInstances ? 0 : (instanceCount == 0 ? minCount : instanceCount)
  }
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    orchestrationMode: 'Flexible'
    // Spread over the zones, one fault domain each.
    platformFaultDomainCount: 1
    singlePlacementGroup: false
    scaleInPolicy: {
      rules: [
        'Default'
      ]
      forceDeletion: false
    }
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
        computerNamePrefix: 'mh'
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
        // cloud-config as JSON (valid YAML); every file's content is base64, so nothing in it
        // needs YAML quoting.
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
                    // Each instance's own public IP (Standard: static, closed unless the NSG
                    // opens it): its SIP_ADVERTISED_HOST, where devices send RTP and Teams'
                    // media servers reach the meeting leg. Deleted with the instance.
                    publicIPAddressConfiguration: {
                      name: 'pip'
                      sku: {
                        name: 'Standard'
                        tier: 'Regional'
                      }
                      properties: {
                        publicIPAddressVersion: 'IPv4'
                        idleTimeoutInMinutes: 30
                        deleteOption: 'Delete'
                      }
                    }
                  }
                }
              ]
            }
          }
        ]
      }
      diagnosticsProfile: {
        // Managed boot diagnostics: serial console and the cloud-init log when a boot fails.
        bootDiagnostics: {
          enabled: true
        }
      }
      // A scale-in or delete is announced (IMDS scheduled events) and waits for the drain:
      // opencvi-drain-on-terminate stops the host, then lets Azure go ahead.
      scheduledEventsProfile: {
        terminateNotificationProfile: {
          enable: true
          notBeforeTimeout: 'PT${terminateNoticeMinutes}M'
        }
      }
    }
  }
}

// Scale on the pool's load: the average CPU across its instances (a media host's CPU grows
// with its calls: transcoding, SRTP, the WebRTC leg).
resource autoscale 'Microsoft.Insights/autoscalesettings@2022-10-01' = {
  name: 'autoscale-${scaleSet.name}'
  location: location
  tags: tags
  properties: {
    name: 'autoscale-${scaleSet.name}'
    // Off while the pool is not to start (it would scale out to minCount at once).
    enabled: startInstances
    targetResourceUri: scaleSet.id
    profiles: [
      {
        name: 'pool load'
        capacity: {
          minimum: '${minCount}'
          maximum: '${maxCount}'
          default: '${minCount}'
        }
        rules: [
          {
            metricTrigger: {
              metricName: 'Percentage CPU'
              metricNamespace: 'microsoft.compute/virtualmachinescalesets'
              metricResourceUri: scaleSet.id
              timeGrain: 'PT1M'
              statistic: 'Average'
              timeWindow: 'PT5M'
              timeAggregation: 'Average'
              operator: 'GreaterThan'
              threshold: scaleOutCpuPercent
            }
            scaleAction: {
              direction: 'Increase'
              type: 'ChangeCount'
              value: '${scaleOutStep}'
              cooldown: scaleOutCooldown
            }
          }
          {
            metricTrigger: {
              metricName: 'Percentage CPU'
              metricNamespace: 'microsoft.compute/virtualmachinescalesets'
              metricResourceUri: scaleSet.id
              timeGrain: 'PT1M'
              statistic: 'Average'
              timeWindow: 'PT15M'
              timeAggregation: 'Average'
              operator: 'LessThan'
              threshold: scaleInCpuPercent
            }
            scaleAction: {
              direction: 'Decrease'
              type: 'ChangeCount'
              value: '${scaleInStep}'
              cooldown: scaleInCooldown
            }
          }
        ]
      }
    ]
  }
}

// Receive from the call events queue; read the resource group (the instance's public IP).
module access './mediahost-access.bicep' = {
  name: take('${deployment().name}-access', 64)
  params: {
    principalId: identity.properties.principalId
    serviceBusNamespaceName: serviceBusNamespaceName
    eventsQueueName: eventsQueueName
  }
}

@description('Name of the media hosts\' scale set.')
output scaleSetName string = scaleSet.name

@description('Principal ID of the media hosts\' identity: assign it the CVI.MediaHost app role (infra/README.md).')
output principalId string = identity.properties.principalId

@description('Client ID of the media hosts\' identity (their AZURE_CLIENT_ID).')
output clientId string = identity.properties.clientId
