import type { TokenCredential } from "@azure/identity";
import { ServiceBusClient } from "@azure/service-bus";
import { ServiceBusMessageBus } from "./serviceBusMessageBus.js";

export interface ConnectServiceBusOptions {
  /** e.g. sb-cvi.servicebus.windows.net */
  readonly fullyQualifiedNamespace: string;
  /** amqps://host:port of a stand-in in front of the namespace (local stack, tests). */
  readonly endpoint?: string | undefined;
  /** The session-enabled queue of the media hosts' call events. */
  readonly queueName: string;
  readonly credential: TokenCredential;
}

export interface ServiceBusConnection {
  readonly bus: ServiceBusMessageBus;
  close(): Promise<void>;
}

/** One AMQP connection to the namespace, with the bus on it; `close` ends both. */
export function connectServiceBus(options: ConnectServiceBusOptions): ServiceBusConnection {
  const client = new ServiceBusClient(options.fullyQualifiedNamespace, options.credential, {
    ...(options.endpoint ? { customEndpointAddress: options.endpoint } : {}),
  });
  const bus = new ServiceBusMessageBus(client, { queueName: options.queueName });
  return {
    bus,
    close: async () => {
      await bus.close();
      await client.close();
    },
  };
}
