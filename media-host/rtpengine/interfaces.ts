import type { RtpengineInterface } from "./rtpengineProcess.js";

/**
 * rtpengine's two logical interfaces on a media host. Devices' media uses "device": bound to
 * the VM's own address and, behind 1:1 NAT (an Azure VM's public IP), advertised in SDP as the
 * public one. The meeting leg's bridge talks to it over "bridge", on loopback: nothing outside
 * the host can reach that side of a call (or be latched onto by rtpengine's endpoint learning).
 */
export const DEVICE_INTERFACE = "device";
export const BRIDGE_INTERFACE = "bridge";
/** Where the bridge and rtpengine's bridge side meet. */
export const BRIDGE_ADDRESS = "127.0.0.1";
/** The ng `direction` of a device's offer: it arrives on the device side and leaves towards the bridge. */
export const DEVICE_TO_BRIDGE: readonly [string, string] = [DEVICE_INTERFACE, BRIDGE_INTERFACE];
/** The ng `direction` of the gateway's own offer: it comes from the bridge and goes out to the device. */
export const BRIDGE_TO_DEVICE: readonly [string, string] = [BRIDGE_INTERFACE, DEVICE_INTERFACE];

/** The interfaces of a media host's rtpengine: devices on `bindAddress` (written into SDP as `advertisedAddress`), the bridge on loopback. */
export function mediaHostInterfaces(bindAddress: string, advertisedAddress: string = bindAddress): RtpengineInterface[] {
  return [
    { name: DEVICE_INTERFACE, address: bindAddress, ...(advertisedAddress !== bindAddress ? { advertisedAddress } : {}) },
    { name: BRIDGE_INTERFACE, address: BRIDGE_ADDRESS },
  ];
}
