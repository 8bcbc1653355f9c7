import { createSocket, type Socket } from "node:dgram";

/** A UDP socket bound to a free port of `address` (the bridge's side of rtpengine: loopback on a media host). */
export async function bindUdpSocket(address: string): Promise<Socket> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, address, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  return socket;
}

/** Closes it, whether or not it is still open (a call ends once, but its parts may close in any order). */
export function closeUdpSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });
}
