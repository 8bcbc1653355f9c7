// Media hosts: one Debian 12 VM per media host id, each with a static public IP that devices
// reach for SIP and RTP, a system-assigned identity that receives from its own Service Bus
// subscription and calls the control plane, and a systemd service running the media host
// (dist/media-host/main.js) with the settings media-host/config.ts reads.
//
// The VM boots from customData (cloud-init): Debian packages, the app package from
// mediaHostPackageUrl, the env file, the unit. customData holds no secrets (anyone who can
// read the VM model can read it) and Azure refuses to change it on an existing VM: see
// infra/README.md for changing settings or the package of running hosts.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Middle part of resource names, e.g. cvi-<suffix>: vm-<namePrefix>-<id>, and so on.')
param namePrefix string

@description('Media host ids (MEDIA_HOST_ID), one VM each; each names that host\'s Service Bus subscription.')
param mediaHostIds array

@description('VM size. It must support accelerated networking.')
param vmSize string = 'Standard_F4s_v2'

@description('Admin user for SSH; password login is disabled.')
param adminUsername string = 'azureuser'

@description('OpenSSH public key (ssh-ed25519 or ssh-rsa ...) of the admin user.')
param adminSshPublicKeyData string

@description('Source (CIDR or service tag) allowed to reach SSH (TCP 22). Empty: no SSH rule, inbound SSH is denied.')
param sshSourceAddressPrefix string = ''

@description('https URL of the app package: a .tgz of the built repository (package.json, package-lock.json, dist/). An Azure Blob URL is read with the VM identity; never a SAS URL (customData is not secret).')
param mediaHostPackageUrl string

@description('The control plane API base: https://<Function App host>/api (CONTROL_PLANE_URL).')
param controlPlaneUrl string

@description('Scope of the control plane API tokens: <admin API audience>/.default (CONTROL_PLANE_SCOPE).')
param controlPlaneScope string

@description('Service Bus namespace host, <name>.servicebus.windows.net (SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE).')
param serviceBusFullyQualifiedNamespace string

@description('Service Bus namespace name, for the receiver role assignments.')
param serviceBusNamespaceName string

@description('Topic carrying the media-host commands (SERVICE_BUS_TOPIC); each host has a subscription on it named by its id.')
param commandsTopicName string

@description('DNS name devices dial, e.g. cvi.example.net (SERVICE_DOMAIN).')
param serviceDomain string

@description('Key Vault secret URI of a PEM certificate (content type application/x-pem-file) for SIP over TLS. Empty: no TLS settings, SIP over UDP and TCP only.')
param sipTlsCertificateSecretUri string = ''

@description('On stop: how long calls may go on before they are ended (DRAIN_GRACE_MS); systemd waits 30 s more.')
@minValue(0)
@maxValue(86400)
param drainGraceSeconds int = 300

@description('Address space of the media hosts\' virtual network.')
param vnetAddressPrefix string = '10.60.0.0/16'

@description('Subnet of the media hosts, inside vnetAddressPrefix; host i gets its 5th + i address (Azure keeps the first four).')
param subnetAddressPrefix string = '10.60.0.0/24'

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

var subnetName = 'media-hosts'
var envFilePath = '/etc/opencvi/media-host.env'
var unitName = 'opencvi-media-host.service'
var sipTlsCertFile = '/etc/opencvi/tls/sip-cert.pem'
var sipTlsKeyFile = '/etc/opencvi/tls/sip-key.pem'
var tlsEnabled = !empty(sipTlsCertificateSecretUri)

// The media host's settings (media-host/config.ts), the same on every host; MEDIA_HOST_ID,
// SIP_BIND_HOST and SIP_ADVERTISED_HOST are per host (below). No AZURE_CLIENT_ID: the
// system-assigned identity is the default managed identity. No SERVICE_BUS_ENDPOINT: that is
// for local stand-ins.
var hostEnvironment = {
  CONTROL_PLANE_URL: controlPlaneUrl
  CONTROL_PLANE_SCOPE: controlPlaneScope
  SERVICE_BUS_FULLY_QUALIFIED_NAMESPACE: serviceBusFullyQualifiedNamespace
  SERVICE_BUS_TOPIC: commandsTopicName
  SERVICE_DOMAIN: serviceDomain
  SIP_PORT: sipPort
  SIP_TLS_PORT: sipTlsPort
  RTP_PORT_MIN: rtpPortMin
  RTP_PORT_MAX: rtpPortMax
  HEALTH_PORT: healthPort
  MEETING_LEG_PORT: meetingLegPort
  WEBRTC_PORT_MIN: webRtcPortMin
  WEBRTC_PORT_MAX: webRtcPortMax
  PROMPTS_DIRECTORY: '/var/lib/opencvi/prompts'
  DRAIN_GRACE_MS: drainGraceSeconds * 1000
}

// The certificate files opencvi-sip-tls-fetch writes before each start.
var tlsEnvironment = tlsEnabled
  ? {
      SIP_TLS_CERT_FILE: sipTlsCertFile
      SIP_TLS_KEY_FILE: sipTlsKeyFile
    }
  : {}

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
      // Keep restarting, e.g. while the TLS certificate cannot be read yet.
      'StartLimitIntervalSec=0'
      ''
      '[Service]'
      'Type=simple'
      'User=opencvi'
      'Group=opencvi'
      'WorkingDirectory=/opt/opencvi/current'
      'EnvironmentFile=${envFilePath}'
    ],
    // As root (+): reads Key Vault with the VM identity, writes the files the service user reads.
    tlsEnabled ? ['ExecStartPre=+/usr/local/sbin/opencvi-sip-tls-fetch ${sipTlsCertificateSecretUri}'] : [],
    [
      'ExecStart=/opt/opencvi/current/runtime/bin/node dist/media-host/main.js'
      // SIGTERM drains (media-host/main.ts): no new calls, the current ones go on for
      // DRAIN_GRACE_MS, then they are ended cleanly. That covers stop, restart, upgrade and
      // VM shutdown; no scheduled-events handling is needed for it.
      'KillSignal=SIGTERM'
      // SIGTERM to the Node process only: it stops its rtpengine after the drain. The default
      // (control-group) would stop rtpengine at once and cut the media of draining calls.
      'KillMode=mixed'
      'TimeoutStopSec=${drainGraceSeconds + 30}'
      'Restart=always'
      'RestartSec=5'
      // rtpengine holds two ports per media stream.
      'LimitNOFILE=65536'
      ''
      '[Install]'
      'WantedBy=multi-user.target'
      ''
    ]
  ),
  '\n'
)

// Installs or upgrades the app; cloud-init runs it once, an operator again to upgrade.
var installScript = '''#!/bin/bash
# Installs or upgrades the OpenCVI media host from a package: a .tgz of the built repository
# (package.json, package-lock.json and dist/, at the top or under one directory).
# Usage: opencvi-media-host-install [package URL]; without one, the URL installed last.
# Each install is a new release under /opt/opencvi/releases; /opt/opencvi/current points at
# the one that runs. The restart drains the old process (SIGTERM) before the new one starts.
set -euo pipefail
url="${1:-$(cat /etc/opencvi/package-url)}"
base=/opt/opencvi
release="$base/releases/$(date -u +%Y%m%dT%H%M%SZ)"
id -u opencvi >/dev/null 2>&1 || useradd --system --home-dir /var/lib/opencvi --shell /usr/sbin/nologin opencvi
mkdir -p "$release" /var/lib/opencvi/prompts
trap 'rm -rf "$release"' ERR

# An Azure Blob URL is read with the VM identity (it needs Storage Blob Data Reader there);
# any other URL must be readable without credentials.
auth=()
case "$url" in
  https://*.blob.core.*)
    token=$(curl -fsS --retry 5 -H Metadata:true \
      'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fstorage.azure.com%2F' |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    auth=(-H "Authorization: Bearer $token" -H "x-ms-version: 2021-08-06")
    ;;
esac
curl -fsSL --retry 10 --retry-delay 5 --retry-all-errors "${auth[@]}" -o "$release/package.tgz" "$url"
tar -xzf "$release/package.tgz" -C "$release" --no-same-owner
rm "$release/package.tgz"
# A package with one top-level directory (npm pack's package/, or a named one) is flattened.
if [ ! -f "$release/package.json" ]; then
  top=$(find "$release" -mindepth 2 -maxdepth 2 -name package.json -printf '%h\n' | head -n 1)
  if [ -z "$top" ]; then echo "no package.json in $url" >&2; false; fi
  shopt -s dotglob
  mv "$top"/* "$release"/
  rmdir "$top"
fi
if [ ! -f "$release/dist/media-host/main.js" ]; then echo "no dist/media-host/main.js in $url: npm run build before packing" >&2; false; fi
cd "$release"
# Production dependencies as locked (npm install, not npm ci: see scripts/setup.sh).
npm install --omit=dev --no-audit --no-fund --loglevel=error
# Node itself: Debian 12's nodejs is 18, the app needs the version package.json pins as its
# devDependency "node" (the npm package node, as scripts/setup.sh gets it), installed beside it.
node_version=$(node -p 'require("./package.json").devDependencies.node')
npm install --global --prefix "$release/runtime" --no-audit --no-fund --loglevel=error "node@$node_version"
"$release/runtime/bin/node" --version
# The IVR prompts, spoken by espeak-ng (remade only when a text changed).
"$release/runtime/bin/node" dist/media-host/prompts/generatePrompts.js /var/lib/opencvi/prompts
chmod -R a+rX "$release" /var/lib/opencvi
trap - ERR

printf '%s\n' "$url" >/etc/opencvi/package-url
ln -sfn "$release" "$base/current.new"
mv -T "$base/current.new" "$base/current"
systemctl daemon-reload
systemctl enable opencvi-media-host.service
systemctl restart opencvi-media-host.service
# Keep the three newest releases.
ls -1d "$base"/releases/*/ | head -n -3 | xargs -r rm -rf
'''

// Runs before each start when sipTlsCertificateSecretUri is set.
var tlsFetchScript = '''#!/bin/bash
# Fetches the SIP TLS key and certificate chain from Key Vault with the VM identity into the
# files SIP_TLS_KEY_FILE and SIP_TLS_CERT_FILE name. Usage: opencvi-sip-tls-fetch <secret URI>
# The secret is that of a Key Vault certificate with content type application/x-pem-file; the
# VM identity needs Key Vault Secrets User on it (infra/README.md). Runs before each start, so
# a renewed certificate is taken at the next restart; while Key Vault cannot be read, the
# files fetched before are kept.
set -euo pipefail
uri="${1%/}"
dir=/etc/opencvi/tls
host="${uri#https://}"
host="${host%%/*}"
fetch() {
  local token
  token=$(curl -fsS --max-time 10 -H Metadata:true \
    "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2F${host#*.}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])' 2>/dev/null)
  curl -fsS --max-time 10 -H "Authorization: Bearer $token" "$uri?api-version=7.4" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["value"])' 2>/dev/null
}
if ! pem=$(fetch); then
  if [ -s "$dir/sip-cert.pem" ] && [ -s "$dir/sip-key.pem" ]; then
    echo "cannot read $uri: keeping the certificate fetched before" >&2
    exit 0
  fi
  echo "cannot read $uri with the VM identity (does it hold Key Vault Secrets User on it?)" >&2
  exit 1
fi
umask 027
mkdir -p "$dir"
printf '%s\n' "$pem" | awk '/-----BEGIN [A-Z ]*PRIVATE KEY-----/{k=1} k{print} /-----END [A-Z ]*PRIVATE KEY-----/{k=0}' >"$dir/sip-key.pem.new"
printf '%s\n' "$pem" | awk '/-----BEGIN CERTIFICATE-----/{c=1} c{print} /-----END CERTIFICATE-----/{c=0}' >"$dir/sip-cert.pem.new"
if [ ! -s "$dir/sip-key.pem.new" ] || [ ! -s "$dir/sip-cert.pem.new" ]; then
  rm -f "$dir"/*.new
  echo "$uri holds no PEM key and certificate (content type application/x-pem-file?)" >&2
  exit 1
fi
chown root:opencvi "$dir" "$dir"/*.new
chmod 0750 "$dir"
chmod 0640 "$dir"/*.new
mv "$dir/sip-key.pem.new" "$dir/sip-key.pem"
mv "$dir/sip-cert.pem.new" "$dir/sip-cert.pem"
'''

// cloud-init files shared by every host; each host adds its env file.
var commonFiles = [
  {
    path: '/etc/systemd/system/${unitName}'
    permissions: '0644'
    encoding: 'b64'
    content: base64(unitFile)
  }
  {
    path: '/usr/local/sbin/opencvi-media-host-install'
    permissions: '0755'
    encoding: 'b64'
    content: base64(installScript)
  }
  {
    path: '/usr/local/sbin/opencvi-sip-tls-fetch'
    permissions: '0755'
    encoding: 'b64'
    content: base64(tlsFetchScript)
  }
]

var bootCommands = [
  // The package's own rtpengine would hold the RTP ports; the media host supervises its own.
  ['systemctl', 'disable', '--now', 'rtpengine-daemon.service']
  ['systemctl', 'mask', 'rtpengine-daemon.service']
  // Tries for an hour: a Blob package is readable only once the operator has granted this new
  // identity Storage Blob Data Reader (infra/README.md). Azure counts the VM as provisioned
  // before this runs, so the deployment does not wait for it.
  [
    'sh'
    '-c'
    'for attempt in $(seq 60); do /usr/local/sbin/opencvi-media-host-install "$0" && exit 0; sleep 60; done; exit 1'
    mediaHostPackageUrl
  ]
]

// Devices reach SIP and RTP from anywhere, and Teams' media servers the meeting leg (session
// endpoint and WebRTC); health and metrics only from inside; nothing else.
var sipAndMediaRules = [
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
    name: 'allow-sip-udp'
    properties: {
      priority: 100
      direction: 'Inbound'
      access: 'Allow'
      protocol: 'Udp'
      sourceAddressPrefix: '*'
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
      sourceAddressPrefix: '*'
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
    name: 'allow-health-load-balancer'
    properties: {
      priority: 140
      direction: 'Inbound'
      access: 'Allow'
      protocol: 'Tcp'
      sourceAddressPrefix: 'AzureLoadBalancer'
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

resource nsg 'Microsoft.Network/networkSecurityGroups@2024-05-01' = {
  name: 'nsg-${namePrefix}-media-hosts'
  location: location
  tags: tags
  properties: {
    securityRules: concat(sipAndMediaRules, sshRules)
  }
}

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
    subnets: [
      {
        name: subnetName
        properties: {
          addressPrefix: subnetAddressPrefix
          networkSecurityGroup: {
            id: nsg.id
          }
        }
      }
    ]
  }
}

// Standard SKU: static, and closed to inbound traffic unless an NSG opens it. The address is
// SIP_ADVERTISED_HOST (Via, Contact, SDP); devices, or DNS records, point at it. It is not
// deleted with the VM, so a replaced VM keeps its address.
resource publicIps 'Microsoft.Network/publicIPAddresses@2024-05-01' = [
  for id in mediaHostIds: {
    name: 'pip-${namePrefix}-${id}'
    location: location
    tags: tags
    sku: {
      name: 'Standard'
      tier: 'Regional'
    }
    properties: {
      publicIPAllocationMethod: 'Static'
      publicIPAddressVersion: 'IPv4'
      // The longest idle time for TCP flows (SIP over TCP and TLS between requests).
      idleTimeoutInMinutes: 30
    }
  }
]

resource nics 'Microsoft.Network/networkInterfaces@2024-05-01' = [
  for (id, i) in mediaHostIds: {
    name: 'nic-${namePrefix}-${id}'
    location: location
    tags: tags
    properties: {
      enableAcceleratedNetworking: true
      ipConfigurations: [
        {
          name: 'ipconfig1'
          properties: {
            // Static: it is the host's SIP_BIND_HOST, so it must outlive a deallocation.
            privateIPAllocationMethod: 'Static'
            privateIPAddress: cidrHost(subnetAddressPrefix, 3 + i)
            subnet: {
              id: '${vnet.id}/subnets/${subnetName}'
            }
            publicIPAddress: {
              id: publicIps[i].id
            }
          }
        }
      ]
    }
  }
]

resource vms 'Microsoft.Compute/virtualMachines@2024-07-01' = [
  for (id, i) in mediaHostIds: {
    name: 'vm-${namePrefix}-${id}'
    location: location
    tags: tags
    identity: {
      type: 'SystemAssigned'
    }
    properties: {
      hardwareProfile: {
        vmSize: vmSize
      }
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
        computerName: id
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
        // needs YAML quoting. The env file is the shared settings plus this host's own.
        customData: base64(format(
          '#cloud-config\n{0}\n',
          string({
            package_update: true
            packages: debianPackages
            write_files: concat(commonFiles, [
              {
                path: envFilePath
                permissions: '0644'
                encoding: 'b64'
                content: base64(format(
                  '{0}\n',
                  join(
                    map(
                      items(union(hostEnvironment, tlsEnvironment, {
                        MEDIA_HOST_ID: id
                        // The private address, not 0.0.0.0: the media host hands SIP_BIND_HOST to
                        // rtpengine as its media interface (address!advertised address), and
                        // rtpengine refuses 0.0.0.0 there. Azure maps the public IP 1:1 onto it.
                        SIP_BIND_HOST: nics[i].properties.ipConfigurations[0].properties.privateIPAddress
                        SIP_ADVERTISED_HOST: publicIps[i].properties.ipAddress
                      })),
                      setting => '${setting.key}=${setting.value}'
                    ),
                    '\n'
                  )
                ))
              }
            ])
            runcmd: bootCommands
          })
        ))
      }
      networkProfile: {
        networkInterfaces: [
          {
            id: nics[i].id
            properties: {
              deleteOption: 'Delete'
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
    }
  }
]

// Each host receives from its own subscription only.
module receiverAccess './mediahost-access.bicep' = [
  for (id, i) in mediaHostIds: {
    name: take('${deployment().name}-${id}-access', 64)
    params: {
      principalId: vms[i].identity.principalId
      serviceBusNamespaceName: serviceBusNamespaceName
      commandsTopicName: commandsTopicName
      subscriptionName: id
    }
  }
]

@description('Per media host: id, VM name, public IP (SIP_ADVERTISED_HOST) and identity principal ID (for the CVI.MediaHost app role).')
output hosts array = [
  for (id, i) in mediaHostIds: {
    id: id
    vmName: vms[i].name
    publicIpAddress: publicIps[i].properties.ipAddress
    principalId: vms[i].identity.principalId
  }
]

@description('Public IP of each media host, in mediaHostIds order.')
output publicIpAddresses array = [for (id, i) in mediaHostIds: publicIps[i].properties.ipAddress]

@description('Principal ID of each media host identity, in mediaHostIds order.')
output principalIds array = [for (id, i) in mediaHostIds: vms[i].identity.principalId]
