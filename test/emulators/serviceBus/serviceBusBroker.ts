import { randomUUID } from "node:crypto";
import { once } from "node:events";
import type { AddressInfo, Server, Socket } from "node:net";
import rhea, {
  type Connection,
  type Delivery,
  type EventContext,
  type link as Link,
  type Message,
  type Receiver,
  type Sender,
  type Source,
  type TerminusOptions,
} from "rhea";
import { EntityQueue, type Outcome, type StoredMessage } from "./entityQueue.js";

// A small AMQP 1.0 broker that serves the real @azure/service-bus SDK what it needs for
// topics with filtered subscriptions: CBS, batched sends, peek-lock deliveries, settlement,
// dead-lettering and the $management operations the receiver uses. Test tooling: it plays
// Microsoft's part and imports nothing from the product. See README.md for its limits.

export interface BrokerSubscriptionOptions {
  readonly name: string;
  /** Correlation filter: the application properties a message must carry, with these values. */
  readonly filter: Readonly<Record<string, string>>;
  /** Default 10, as in Service Bus. */
  readonly maxDeliveryCount?: number;
  /** Default 60 s, as in Service Bus. */
  readonly lockDurationInMs?: number;
}

export interface BrokerTopicOptions {
  readonly name: string;
  /** Turns on duplicate detection by message id over this window (requiresDuplicateDetection); absent = off. */
  readonly duplicateDetectionWindowInMs?: number;
  readonly subscriptions: readonly BrokerSubscriptionOptions[];
}

export interface ServiceBusBrokerOptions {
  readonly topics: readonly BrokerTopicOptions[];
  /** Decides CBS put-token requests; `audience` is the request's `name` (the entity URI). Absent: any token is accepted. */
  readonly verifyToken?: (token: string, audience: string) => Promise<boolean>;
  /** Serves AMQPS with this key and certificate; absent: plain TCP (as the official emulator does). */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer };
  readonly host?: string;
  /** Default 0: a free port. */
  readonly port?: number;
  /** `max-message-size` on sender links, which bounds the SDK's batches. Default 256 KiB (Standard tier). */
  readonly maxMessageSizeInBytes?: number;
}

/** A stored message as the controls show it. */
export interface BrokerMessage {
  readonly messageId: unknown;
  readonly subject: string | undefined;
  readonly applicationProperties: Readonly<Record<string, unknown>>;
  /** A data section's bytes, or an AMQP value. */
  readonly body: unknown;
  readonly deliveryCount: number;
  readonly sequenceNumber: number;
}

interface Topic {
  readonly name: string;
  readonly duplicateDetectionWindowInMs: number | undefined;
  /** Message id → when it was first accepted. */
  readonly seen: Map<string, number>;
  readonly subscriptions: readonly { readonly filter: Readonly<Record<string, string>>; readonly queue: EntityQueue }[];
  nextSequenceNumber: number;
}

interface ConnectionState {
  /** Entity paths (lower case) a put-token was accepted for: links may attach to them and below. */
  readonly authorized: Set<string>;
  /** Links attached to a queue, released when the connection goes. */
  readonly links: Set<Sender>;
}

interface ManagementResponse {
  readonly statusCode: number;
  readonly description: string;
  readonly condition?: string;
  readonly body?: unknown;
}

/** The SDK's batch envelope: the messages are data sections of one outer message. */
const BATCH_FORMAT = 0x80013700;
const CBS = "$cbs";
const MANAGEMENT_SUFFIX = "/$management";
const LOCK_LOST = "com.microsoft:message-lock-lost";
/** rhea builds outcomes with these; its typings leave them out. */
const outcomes = rhea.message as unknown as Record<"accepted" | "modified" | "rejected", (fields?: object) => { described(): unknown }>;

export class ServiceBusBroker {
  readonly #options: ServiceBusBrokerOptions;
  readonly #container = rhea.create_container({ id: `servicebus-broker-${randomUUID()}` });
  readonly #topics = new Map<string, Topic>();
  /** Subscriptions and their dead-letter queues, by lower-case path. */
  readonly #queues = new Map<string, EntityQueue>();
  readonly #linkQueues = new WeakMap<Sender, EntityQueue>();
  readonly #connections = new Map<Connection, ConnectionState>();
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;

  constructor(options: ServiceBusBrokerOptions) {
    this.#options = options;
    for (const topic of options.topics) {
      const subscriptions = topic.subscriptions.map((subscription) => {
        const path = `${topic.name}/Subscriptions/${subscription.name}`;
        const deadLetterQueue = new EntityQueue(`${path}/$DeadLetterQueue`, {
          lockDurationInMs: subscription.lockDurationInMs ?? 60_000,
          maxDeliveryCount: Number.POSITIVE_INFINITY,
        });
        const queue = new EntityQueue(path, {
          lockDurationInMs: subscription.lockDurationInMs ?? 60_000,
          maxDeliveryCount: subscription.maxDeliveryCount ?? 10,
          deadLetterQueue,
        });
        this.#queues.set(queue.path.toLowerCase(), queue);
        this.#queues.set(deadLetterQueue.path.toLowerCase(), deadLetterQueue);
        return { filter: subscription.filter, queue };
      });
      this.#topics.set(topic.name.toLowerCase(), {
        name: topic.name,
        duplicateDetectionWindowInMs: topic.duplicateDetectionWindowInMs,
        seen: new Map(),
        subscriptions,
        nextSequenceNumber: 1,
      });
    }
    this.#listen();
  }

  // ---- Controls -------------------------------------------------------------------------------

  async start(): Promise<{ port: number }> {
    const tls = this.#options.tls;
    // rhea's typings split TLS and TCP listen options into overloads; this object is either.
    const server = this.#container.listen({
      host: this.#options.host ?? "127.0.0.1",
      port: this.#options.port ?? 0,
      // Settlement of what clients send is the broker's decision (accept once stored).
      autoaccept: false,
      ...(tls ? { transport: "tls", key: tls.key, cert: tls.cert } : { transport: "tcp" }),
    } as never) as Server;
    this.#server = server;
    server.on(tls ? "secureConnection" : "connection", (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once("close", () => this.#sockets.delete(socket));
    });
    await once(server, "listening");
    return { port: (server.address() as AddressInfo).port };
  }

  async stop(): Promise<void> {
    this.dropConnections();
    const server = this.#server;
    this.#server = undefined;
    if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    for (const queue of this.#queues.values()) queue.dispose();
  }

  /** Cuts every client connection, as a network failure would: locked messages become available again. */
  dropConnections(): void {
    // With an error, rhea's socket 'error' handler runs its disconnect path (a plain destroy() only emits 'close').
    for (const socket of this.#sockets) socket.destroy(new Error("connection dropped by the test broker"));
  }

  deadLetters(topic: string, subscription: string): BrokerMessage[] {
    return this.#requireQueue(`${topic}/Subscriptions/${subscription}/$DeadLetterQueue`).messages().map(view);
  }

  /** Messages in the subscription, available or locked (Service Bus's activeMessageCount). */
  activeMessageCount(topic: string, subscription: string): number {
    return this.#requireQueue(`${topic}/Subscriptions/${subscription}`).activeMessageCount;
  }

  /** Locks renewed through $management on the subscription so far. */
  lockRenewals(topic: string, subscription: string): number {
    return this.#requireQueue(`${topic}/Subscriptions/${subscription}`).lockRenewals;
  }

  #requireQueue(path: string): EntityQueue {
    const queue = this.#queues.get(path.toLowerCase());
    if (!queue) throw new Error(`no such entity: ${path}`);
    return queue;
  }

  // ---- AMQP events -----------------------------------------------------------------------------

  #listen(): void {
    const on = (event: string, handler: (context: EventContext) => void) => this.#container.on(event, handler);
    on("connection_open", (c) => this.#connections.set(c.connection, { authorized: new Set(), links: new Set() }));
    on("sender_open", (c) => this.#senderOpened(c.connection, c.sender!));
    on("receiver_open", (c) => this.#receiverOpened(c.connection, c.receiver!));
    on("message", (c) => this.#received(c));
    on("sendable", (c) => this.#linkQueues.get(c.sender!)?.pump());
    on("sender_draining", (c) => this.#linkQueues.get(c.sender!)?.drain(c.sender!));
    on("accepted", (c) => this.#settled(c.sender!, c.delivery!, "accepted"));
    // rhea reports modified (the SDK's abandon) as released too.
    on("released", (c) => this.#settled(c.sender!, c.delivery!, "released"));
    on("rejected", (c) => this.#settled(c.sender!, c.delivery!, "rejected"));
    on("sender_close", (c) => this.#forgetLink(c.connection, c.sender!));
    on("session_close", (c) => {
      for (const link of this.#connections.get(c.connection)?.links ?? []) if (link.session === c.session) this.#forgetLink(c.connection, link);
    });
    on("connection_close", (c) => this.#forgetConnection(c.connection));
    on("disconnected", (c) => this.#forgetConnection(c.connection));
    // Link and session errors the client closes with would otherwise be thrown by the container.
    on("error", () => {});
  }

  /** A client receiver attached: we send on it (a subscription, its dead letters, or replies). */
  #senderOpened(connection: Connection, sender: Sender): void {
    const source = sender.source as { address?: string; filter?: Record<string, unknown> } | undefined;
    const address = source?.address ?? "";
    mirrorAttach(sender);
    if (address === CBS || address.endsWith(MANAGEMENT_SUFFIX)) return;
    const queue = this.#queues.get(address.toLowerCase());
    if (!this.#admit(connection, sender, address, queue !== undefined)) return;
    if (source?.filter && "com.microsoft:session-filter" in source.filter) {
      refuse(sender, "amqp:not-implemented", `The test broker has no session-enabled entities (${address}).`);
      return;
    }
    this.#connections.get(connection)?.links.add(sender);
    this.#linkQueues.set(sender, queue!);
    queue!.attach(sender);
  }

  /** A client sender attached: we receive on it (a topic, or requests). */
  #receiverOpened(connection: Connection, receiver: Receiver): void {
    const address = (receiver.target as { address?: string } | undefined)?.address ?? "";
    mirrorAttach(receiver);
    // The SDK sizes its batches by this.
    localAttach(receiver).max_message_size = this.#options.maxMessageSizeInBytes ?? 256 * 1024;
    if (address === CBS) return;
    const exists = address.endsWith(MANAGEMENT_SUFFIX)
      ? this.#queues.has(address.slice(0, -MANAGEMENT_SUFFIX.length).toLowerCase())
      : this.#topics.has(address.toLowerCase());
    this.#admit(connection, receiver, address, exists);
  }

  /** Refuses the link unless the entity exists and a put-token covered it. */
  #admit(connection: Connection, link: Link, address: string, exists: boolean): boolean {
    if (!exists) {
      refuse(link, "amqp:not-found", `The messaging entity '${address}' could not be found.`);
      return false;
    }
    const path = address.toLowerCase();
    const authorized = [...(this.#connections.get(connection)?.authorized ?? [])].some((p) => p === "" || path === p || path.startsWith(`${p}/`));
    if (!authorized) refuse(link, "amqp:unauthorized-access", `Unauthorized access to '${address}': no put-token covers it.`);
    return authorized;
  }

  #received(context: EventContext): void {
    const receiver = context.receiver!;
    const delivery = context.delivery!;
    const address = (receiver.target as { address?: string } | undefined)?.address ?? "";
    if (address === CBS) {
      delivery.accept();
      void this.#putToken(context.connection, context.message!);
      return;
    }
    if (address.endsWith(MANAGEMENT_SUFFIX)) {
      delivery.accept();
      this.#manage(context.connection, address.slice(0, -MANAGEMENT_SUFFIX.length), context.message!);
      return;
    }
    const topic = this.#topics.get(address.toLowerCase());
    if (!topic) {
      delivery.reject({ condition: "amqp:not-found", description: `No topic ${address}.` });
      return;
    }
    let messages: Message[];
    try {
      // Other formats than 0 arrive undecoded.
      messages = delivery.format === BATCH_FORMAT ? decodeBatch(context.message as unknown as Buffer) : [context.message!];
    } catch (e) {
      delivery.reject({ condition: "amqp:decode-error", description: e instanceof Error ? e.message : String(e) });
      return;
    }
    this.#publish(topic, messages);
    delivery.accept();
  }

  #publish(topic: Topic, messages: readonly Message[]): void {
    const now = Date.now();
    const window = topic.duplicateDetectionWindowInMs;
    // Oldest first (a Map keeps insertion order): stop at the first id still inside the window.
    if (window !== undefined)
      for (const [id, at] of topic.seen) {
        if (now - at <= window) break;
        topic.seen.delete(id);
      }
    for (const message of messages) {
      // Service Bus gives every message an id; duplicate detection works on it.
      if (message.message_id === undefined || message.message_id === null) message.message_id = randomUUID();
      if (window !== undefined) {
        const key = idKey(message.message_id);
        if (topic.seen.has(key)) continue;
        topic.seen.set(key, now);
      }
      const sequenceNumber = topic.nextSequenceNumber++;
      const properties = (message.application_properties ?? {}) as Record<string, unknown>;
      for (const { filter, queue } of topic.subscriptions) {
        if (!Object.entries(filter).every(([key, value]) => properties[key] === value)) continue;
        queue.enqueue({ sequenceNumber, enqueuedTime: new Date(now), message, deliveryCount: 0 });
      }
    }
  }

  /** A peek-lock outcome on a delivery we sent: settle it back, so the SDK's complete/abandon/deadLetter resolves. */
  #settled(sender: Sender, delivery: Delivery, kind: "accepted" | "released" | "rejected"): void {
    const queue = this.#linkQueues.get(sender);
    // Outcomes of our replies on $cbs/$management links need nothing.
    if (!queue) return;
    const outcome = outcomeOf(kind, delivery.remote_state);
    if (queue.settle(Buffer.from(delivery.tag).toString("hex"), outcome)) {
      // The outcome goes back without the client's error: an echoed dead-letter error would fail the SDK's deadLetter().
      const state = outcome.kind === "complete" ? outcomes.accepted() : outcome.kind === "abandon" ? outcomes.modified() : outcomes.rejected();
      delivery.update(true, state.described());
    } else {
      const error = {
        condition: LOCK_LOST,
        description: "The lock supplied is invalid. Either the lock expired, or the message has already been removed.",
      };
      delivery.update(true, outcomes.rejected({ error }).described());
    }
    // The SDK receives in rcv-settle-mode second and never settles first: without this rhea keeps the delivery, and
    // stalls once its session holds 2048 of them.
    (delivery as unknown as { remote_settled: boolean }).remote_settled = true;
  }

  #forgetLink(connection: Connection, link: Sender): void {
    this.#connections.get(connection)?.links.delete(link);
    this.#linkQueues.get(link)?.detach(link);
    this.#linkQueues.delete(link);
  }

  #forgetConnection(connection: Connection): void {
    for (const link of this.#connections.get(connection)?.links ?? []) this.#forgetLink(connection, link);
    this.#connections.delete(connection);
  }

  // ---- $cbs and $management --------------------------------------------------------------------

  async #putToken(connection: Connection, request: Message): Promise<void> {
    const properties = (request.application_properties ?? {}) as Record<string, unknown>;
    const audience = String(properties.name ?? "");
    const token = typeof request.body === "string" ? request.body : "";
    let accepted = properties.operation === "put-token" && token !== "";
    if (accepted && this.#options.verifyToken) accepted = await this.#options.verifyToken(token, audience).catch(() => false);
    if (accepted) this.#connections.get(connection)?.authorized.add(entityPathOf(audience));
    // CBS replies carry kebab-case status properties (management replies use camelCase).
    reply(
      connection,
      request,
      accepted
        ? { "status-code": 202, "status-description": "Accepted" }
        : { "status-code": 401, "status-description": `Unauthorized: the token for ${audience} was refused.` },
    );
  }

  #manage(connection: Connection, entityPath: string, request: Message): void {
    const queue = this.#queues.get(entityPath.toLowerCase());
    const operation = String((request.application_properties as Record<string, unknown> | undefined)?.operation ?? "");
    const body = (request.body ?? {}) as Record<string, unknown>;
    let response: ManagementResponse;
    if (!queue) response = failure(404, "amqp:not-found", `The messaging entity '${entityPath}' could not be found.`);
    else if (operation === "com.microsoft:renew-lock") response = renewLocks(queue, body);
    else if (operation === "com.microsoft:peek-message") response = peek(queue, body);
    else if (operation === "com.microsoft:update-disposition") response = updateDisposition(queue, body);
    else response = failure(501, "amqp:not-implemented", `The test broker does not implement ${operation || "this operation"}.`);
    const properties: Record<string, unknown> = { statusCode: response.statusCode, statusDescription: response.description };
    if (response.condition) properties.errorCondition = response.condition;
    reply(connection, request, properties, response.body);
  }
}

function renewLocks(queue: EntityQueue, body: Record<string, unknown>): ManagementResponse {
  const expirations: Date[] = [];
  for (const token of lockTokens(body)) {
    const until = queue.renewLock(token);
    if (!until) return failure(410, LOCK_LOST, "The lock supplied is invalid. Either the lock expired, or the message has already been removed.");
    expirations.push(until);
  }
  return { statusCode: 200, description: "OK", body: { expirations } };
}

function peek(queue: EntityQueue, body: Record<string, unknown>): ManagementResponse {
  const from = Number(body["from-sequence-number"] ?? 1);
  const count = Number(body["message-count"] ?? 1);
  const found = queue
    .messages()
    .filter((stored) => stored.sequenceNumber >= from)
    .slice(0, count);
  // The SDK takes 204 for "nothing there" and reads the rest as encoded messages.
  if (found.length === 0) return { statusCode: 204, description: "No messages" };
  return {
    statusCode: 200,
    description: "OK",
    body: { messages: found.map((stored) => ({ message: rhea.message.encode(queue.wireMessage(stored)) })) },
  };
}

/** Settlement through $management, which the SDK uses when the receiving link is gone. */
function updateDisposition(queue: EntityQueue, body: Record<string, unknown>): ManagementResponse {
  const status = String(body["disposition-status"] ?? "");
  let outcome: Outcome;
  if (status === "completed") outcome = { kind: "complete" };
  else if (status === "abandoned") outcome = { kind: "abandon", annotations: asRecord(body["properties-to-modify"]) };
  else if (status === "suspended") {
    outcome = {
      kind: "deadLetter",
      properties: {
        ...asRecord(body["properties-to-modify"]),
        DeadLetterReason: body["deadletter-reason"],
        DeadLetterErrorDescription: body["deadletter-description"],
      },
    };
  } else return failure(501, "amqp:not-implemented", `The test broker does not implement disposition ${status}.`);
  for (const token of lockTokens(body)) {
    if (!queue.settle(token, outcome))
      return failure(410, LOCK_LOST, "The lock supplied is invalid. Either the lock expired, or the message has already been removed.");
  }
  return { statusCode: 200, description: "OK" };
}

function failure(statusCode: number, condition: string, description: string): ManagementResponse {
  return { statusCode, condition, description };
}

/** Replies on the requester's receiver link, which it names after its reply-to address. */
function reply(connection: Connection, request: Message, applicationProperties: Record<string, unknown>, body?: unknown): void {
  const link = connection.find_sender((sender: Sender) => sender.name === request.reply_to && sender.is_open());
  if (!link) return;
  const response: Record<string, unknown> = {
    correlation_id: request.message_id,
    to: request.reply_to,
    application_properties: applicationProperties,
  };
  if (body !== undefined) response.body = body;
  link.send(response as unknown as Message);
}

/**
 * The lock tokens of a management request, as delivery tags (hex). The SDK shows a tag as a
 * GUID string in .NET byte order (first three groups reversed) and sends that GUID's bytes.
 */
function lockTokens(body: Record<string, unknown>): string[] {
  const tokens = body["lock-tokens"];
  return (Array.isArray(tokens) ? tokens : [])
    .map((token: unknown) => (Buffer.isBuffer(token) ? token : Buffer.from(rhea.string_to_uuid(String(token)))))
    .map((bytes: Buffer) =>
      Buffer.from([bytes[3]!, bytes[2]!, bytes[1]!, bytes[0]!, bytes[5]!, bytes[4]!, bytes[7]!, bytes[6]!, ...bytes.subarray(8)]).toString("hex"),
    );
}

function outcomeOf(kind: "accepted" | "released" | "rejected", state: unknown): Outcome {
  if (kind === "accepted") return { kind: "complete" };
  if (kind === "rejected") {
    // The SDK's deadLetter(): condition com.microsoft:dead-letter, reason and description in the error's info.
    const error = ((state ?? {}) as { error?: { condition?: unknown; description?: unknown; info?: unknown } }).error ?? {};
    const info = asRecord(error.info);
    const properties =
      error.condition === "com.microsoft:dead-letter"
        ? info
        : { DeadLetterReason: String(error.condition ?? "Rejected"), DeadLetterErrorDescription: error.description };
    return { kind: "deadLetter", properties };
  }
  // modified (abandon, or defer with undeliverable-here, which this broker treats as abandon) or released.
  return { kind: "abandon", annotations: asRecord((state as { message_annotations?: unknown } | undefined)?.message_annotations) };
}

function decodeBatch(envelope: Buffer): Message[] {
  const body = rhea.message.decode(envelope).body as { typecode?: number; content?: unknown; multiple?: boolean } | undefined;
  if (body?.typecode !== 0x75) throw new Error("a batch's body must be data sections");
  const sections = (body.multiple ? body.content : [body.content]) as Buffer[];
  return sections.map((section) => rhea.message.decode(section) as unknown as Message);
}

function view(stored: StoredMessage): BrokerMessage {
  const body = stored.message.body as { typecode?: number; content?: unknown; multiple?: boolean } | undefined;
  const isData = body?.typecode === 0x75;
  return {
    messageId: stored.message.message_id,
    subject: stored.message.subject,
    applicationProperties: { ...(stored.message.application_properties ?? {}) },
    body: isData ? (body.multiple ? Buffer.concat(body.content as Buffer[]) : body.content) : body,
    deliveryCount: stored.deliveryCount,
    sequenceNumber: stored.sequenceNumber,
  };
}

/** Our attach answers with the client's terminus and settle modes (a null source would mean a refusal). */
function mirrorAttach(link: Link): void {
  const source = link.source as { address?: string } | undefined;
  const target = link.target as { address?: string } | undefined;
  // An absent address stays absent (the CBS reply link's target has none).
  link.set_source({ address: source?.address } as Source);
  link.set_target({ address: target?.address } as TerminusOptions);
  const attach = localAttach(link);
  attach.snd_settle_mode = link.snd_settle_mode;
  attach.rcv_settle_mode = link.rcv_settle_mode;
}

function refuse(link: Link, condition: string, description: string): void {
  link.close({ condition, description });
}

/** rhea's not-yet-sent attach frame for the link (untyped). */
function localAttach(link: Link): Record<string, unknown> {
  return (link as unknown as { local: { attach: Record<string, unknown> } }).local.attach;
}

/** The entity path a CBS audience (`sb://host/path`) names, lower case; "" = the namespace. */
function entityPathOf(audience: string): string {
  try {
    return decodeURIComponent(new URL(audience).pathname)
      .replace(/^\/+|\/+$/g, "")
      .toLowerCase();
  } catch {
    return audience.toLowerCase();
  }
}

function idKey(id: unknown): string {
  return Buffer.isBuffer(id) ? `b:${id.toString("hex")}` : `s:${String(id)}`;
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) && !Buffer.isBuffer(value)
    ? { ...(value as Record<string, unknown>) }
    : {};
}
