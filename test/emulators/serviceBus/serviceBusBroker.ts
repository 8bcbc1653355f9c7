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
import { EntityQueue, type Outcome, type StoredMessage, wireMessage } from "./entityQueue.js";
import { SESSION_LOCK_LOST, SESSION_LOCK_LOST_DESCRIPTION, SessionQueue } from "./sessionQueue.js";

// A small AMQP 1.0 broker that serves the real @azure/service-bus SDK what it needs for
// topics with filtered subscriptions and queues, session-enabled or not: CBS, batched sends,
// peek-lock deliveries, settlement, dead-lettering, session locks and the $management
// operations the receivers use. Test tooling: it plays Microsoft's part and imports nothing
// from the product. See README.md for its limits.

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

export interface BrokerQueueOptions {
  readonly name: string;
  /** Session-enabled: every message needs a session id, and receivers hold one session each. */
  readonly requiresSession?: boolean;
  /** Turns on duplicate detection by message id over this window (requiresDuplicateDetection); absent = off. */
  readonly duplicateDetectionWindowInMs?: number;
  /** Default 10, as in Service Bus. */
  readonly maxDeliveryCount?: number;
  /** Message locks, or session locks on a session-enabled queue. Default 60 s, as in Service Bus. */
  readonly lockDurationInMs?: number;
}

export interface ServiceBusBrokerOptions {
  readonly topics?: readonly BrokerTopicOptions[];
  /** Each with its $DeadLetterQueue. Names are shared with topics (one namespace). */
  readonly queues?: readonly BrokerQueueOptions[];
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
  /** The AMQP group_id. */
  readonly sessionId: string | undefined;
}

/** What senders send to: a topic (which copies each message to its matching subscriptions) or a queue. */
interface Destination {
  readonly duplicateDetectionWindowInMs: number | undefined;
  /** Message id → when it was first accepted. */
  readonly seen: Map<string, number>;
  nextSequenceNumber: number;
  /** Why the entity refuses this message, if it does. */
  readonly refusal: (message: Message) => string | undefined;
  readonly store: (stored: StoredMessage) => void;
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
const DEAD_LETTER_SUFFIX = "/$DeadLetterQueue";
const LOCK_LOST = "com.microsoft:message-lock-lost";
const SESSION_FILTER = "com.microsoft:session-filter";
const SESSION_ID_MISSING =
  "The SessionId was not set on a message, and it cannot be sent to the entity. Entities that have session support enabled can only receive messages that have the SessionId set to a valid value.";
/** Service Bus's operation timeout, for a next-session request that states none. */
const DEFAULT_SESSION_WAIT_IN_MS = 60_000;
/** rhea builds outcomes with these; its typings leave them out. */
const outcomes = rhea.message as unknown as Record<"accepted" | "modified" | "rejected", (fields?: object) => { described(): unknown }>;

export class ServiceBusBroker {
  readonly #options: ServiceBusBrokerOptions;
  readonly #container = rhea.create_container({ id: `servicebus-broker-${randomUUID()}` });
  /** Topics and queues, by lower-case name. */
  readonly #destinations = new Map<string, Destination>();
  /** Subscriptions, queues without sessions and all dead-letter queues, by lower-case path. */
  readonly #queues = new Map<string, EntityQueue>();
  /** Session-enabled queues, by lower-case path. */
  readonly #sessionQueues = new Map<string, SessionQueue>();
  /** What each receiver link takes messages from (for a session link: its session's, once granted). */
  readonly #linkQueues = new WeakMap<Sender, EntityQueue>();
  readonly #linkSessionQueues = new WeakMap<Sender, SessionQueue>();
  readonly #connections = new Map<Connection, ConnectionState>();
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;

  constructor(options: ServiceBusBrokerOptions) {
    this.#options = options;
    for (const topic of options.topics ?? []) {
      const subscriptions = topic.subscriptions.map((subscription) => {
        const queue = this.#messageQueue(`${topic.name}/Subscriptions/${subscription.name}`, subscription);
        return { filter: subscription.filter, queue };
      });
      this.#addDestination(topic.name, topic.duplicateDetectionWindowInMs, {
        refusal: () => undefined,
        store: (stored) => {
          const properties = (stored.message.application_properties ?? {}) as Record<string, unknown>;
          for (const { filter, queue } of subscriptions) {
            // Each subscription counts its own deliveries.
            if (Object.entries(filter).every(([key, value]) => properties[key] === value)) queue.enqueue({ ...stored });
          }
        },
      });
    }
    for (const queue of options.queues ?? []) {
      if (queue.requiresSession) {
        const sessions = this.#sessionQueue(queue);
        this.#addDestination(queue.name, queue.duplicateDetectionWindowInMs, {
          refusal: (message) => (message.group_id === undefined || message.group_id === null ? SESSION_ID_MISSING : undefined),
          store: (stored) => sessions.enqueue(stored),
        });
      } else {
        const messages = this.#messageQueue(queue.name, queue);
        this.#addDestination(queue.name, queue.duplicateDetectionWindowInMs, {
          refusal: () => undefined,
          store: (stored) => messages.enqueue(stored),
        });
      }
    }
    this.#listen();
  }

  /** A queue or subscription without sessions, and its dead-letter queue. */
  #messageQueue(path: string, options: { readonly maxDeliveryCount?: number; readonly lockDurationInMs?: number }): EntityQueue {
    const lockDurationInMs = options.lockDurationInMs ?? 60_000;
    const deadLetterQueue = this.#deadLetterQueue(path, lockDurationInMs);
    const queue = new EntityQueue(path, { lockDurationInMs, maxDeliveryCount: options.maxDeliveryCount ?? 10, deadLetterQueue });
    this.#queues.set(path.toLowerCase(), queue);
    return queue;
  }

  #sessionQueue(options: BrokerQueueOptions): SessionQueue {
    const lockDurationInMs = options.lockDurationInMs ?? 60_000;
    const deadLetterQueue = this.#deadLetterQueue(options.name, lockDurationInMs);
    const queue = new SessionQueue(
      options.name,
      { lockDurationInMs, maxDeliveryCount: options.maxDeliveryCount ?? 10, deadLetterQueue },
      {
        granted: (link, sessionId, lockedUntil, messages) => {
          // The SDK reads the granted session from the filter it sent, and the lock's expiry from the attach.
          link.set_source({ address: link.source?.address, filter: { [SESSION_FILTER]: sessionId } } as Source);
          localAttach(link).properties = { "com.microsoft:locked-until-utc": ticksOf(lockedUntil) };
          link.attach();
          this.#linkQueues.set(link, messages);
        },
        refused: (link, condition, description) => {
          link.attach();
          refuse(link, condition, description);
        },
      },
    );
    this.#sessionQueues.set(options.name.toLowerCase(), queue);
    return queue;
  }

  /** Dead-letter queues have no sessions, even a session-enabled queue's. */
  #deadLetterQueue(path: string, lockDurationInMs: number): EntityQueue {
    const queue = new EntityQueue(`${path}${DEAD_LETTER_SUFFIX}`, { lockDurationInMs, maxDeliveryCount: Number.POSITIVE_INFINITY });
    this.#queues.set(queue.path.toLowerCase(), queue);
    return queue;
  }

  #addDestination(name: string, duplicateDetectionWindowInMs: number | undefined, entity: Pick<Destination, "refusal" | "store">): void {
    const key = name.toLowerCase();
    if (this.#destinations.has(key)) throw new Error(`two entities named ${name}`);
    this.#destinations.set(key, { duplicateDetectionWindowInMs, seen: new Map(), nextSequenceNumber: 1, ...entity });
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
    for (const queue of this.#sessionQueues.values()) queue.dispose();
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

  /** Messages in the queue, or in one of its sessions, available or locked (Service Bus's activeMessageCount). */
  queueActiveMessageCount(queue: string, sessionId?: string): number {
    return this.#queueMessages(queue, sessionId).length;
  }

  /** The queue's dead-lettered messages, or those of one session. */
  queueDeadLetters(queue: string, sessionId?: string): BrokerMessage[] {
    return this.#requireQueue(`${queue}${DEAD_LETTER_SUFFIX}`)
      .messages()
      .filter((stored) => sessionId === undefined || stored.message.group_id === sessionId)
      .map(view);
  }

  /** Sessions of a session-enabled queue that a receiver holds, by id. */
  lockedSessions(queue: string): string[] {
    return this.#requireSessionQueue(queue).lockedSessions();
  }

  /** Receivers of a session-enabled queue waiting for the next available session. */
  nextSessionWaiters(queue: string): number {
    return this.#requireSessionQueue(queue).waiting;
  }

  #requireSessionQueue(queue: string): SessionQueue {
    const sessions = this.#sessionQueues.get(queue.toLowerCase());
    if (!sessions) throw new Error(`no such session-enabled queue: ${queue}`);
    return sessions;
  }

  #queueMessages(queue: string, sessionId: string | undefined): StoredMessage[] {
    const sessions = this.#sessionQueues.get(queue.toLowerCase());
    if (sessions) return sessions.messages(sessionId);
    return this.#requireQueue(queue)
      .messages()
      .filter((stored) => sessionId === undefined || stored.message.group_id === sessionId);
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
    const sessions = this.#sessionQueues.get(address.toLowerCase());
    if (!this.#admit(connection, sender, address, queue !== undefined || sessions !== undefined)) return;
    const sessionFilter = source?.filter && SESSION_FILTER in source.filter ? { sessionId: source.filter[SESSION_FILTER] } : undefined;
    if (sessions) {
      if (!sessionFilter) {
        refuse(sender, "amqp:not-allowed", "It is not possible for an entity that requires sessions to create a non-sessionful message receiver.");
        return;
      }
      this.#connections.get(connection)?.links.add(sender);
      this.#linkSessionQueues.set(sender, sessions);
      // The attach is answered once the session is decided, which for "any session" may take a while.
      holdAttach(sender);
      const { sessionId } = sessionFilter;
      sessions.accept(sender, sessionId === null || sessionId === undefined ? null : String(sessionId), sessionWaitInMs(sender));
      return;
    }
    if (sessionFilter) {
      refuse(
        sender,
        "amqp:not-allowed",
        `It is not possible for an entity that does not require sessions to create a session receiver (${address}).`,
      );
      return;
    }
    this.#connections.get(connection)?.links.add(sender);
    this.#linkQueues.set(sender, queue!);
    queue!.attach(sender);
  }

  /** A client sender attached: we receive on it (a topic, a queue, or requests). */
  #receiverOpened(connection: Connection, receiver: Receiver): void {
    const address = (receiver.target as { address?: string } | undefined)?.address ?? "";
    mirrorAttach(receiver);
    // The SDK sizes its batches by this.
    localAttach(receiver).max_message_size = this.#options.maxMessageSizeInBytes ?? 256 * 1024;
    if (address === CBS) return;
    const entity = address.endsWith(MANAGEMENT_SUFFIX) ? address.slice(0, -MANAGEMENT_SUFFIX.length).toLowerCase() : undefined;
    const exists = entity !== undefined ? this.#queues.has(entity) || this.#sessionQueues.has(entity) : this.#destinations.has(address.toLowerCase());
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
    const destination = this.#destinations.get(address.toLowerCase());
    if (!destination) {
      delivery.reject({ condition: "amqp:not-found", description: `No topic or queue ${address}.` });
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
    // A batch is taken or refused whole.
    const refusal = messages.map(destination.refusal).find((reason) => reason !== undefined);
    if (refusal !== undefined) {
      delivery.reject({ condition: "amqp:not-allowed", description: refusal });
      return;
    }
    this.#publish(destination, messages);
    delivery.accept();
  }

  #publish(destination: Destination, messages: readonly Message[]): void {
    const now = Date.now();
    const window = destination.duplicateDetectionWindowInMs;
    // Oldest first (a Map keeps insertion order): stop at the first id still inside the window.
    if (window !== undefined)
      for (const [id, at] of destination.seen) {
        if (now - at <= window) break;
        destination.seen.delete(id);
      }
    for (const message of messages) {
      // Service Bus gives every message an id; duplicate detection works on it.
      if (message.message_id === undefined || message.message_id === null) message.message_id = randomUUID();
      if (window !== undefined) {
        const key = idKey(message.message_id);
        if (destination.seen.has(key)) continue;
        destination.seen.set(key, now);
      }
      destination.store({ sequenceNumber: destination.nextSequenceNumber++, enqueuedTime: new Date(now), message, deliveryCount: 0 });
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
      // A session link's locks are its session's: once that is gone, so are they.
      const error = this.#linkSessionQueues.has(sender)
        ? { condition: SESSION_LOCK_LOST, description: SESSION_LOCK_LOST_DESCRIPTION }
        : { condition: LOCK_LOST, description: "The lock supplied is invalid. Either the lock expired, or the message has already been removed." };
      delivery.update(true, outcomes.rejected({ error }).described());
    }
    // The SDK receives in rcv-settle-mode second and never settles first: without this rhea keeps the delivery, and
    // stalls once its session holds 2048 of them.
    (delivery as unknown as { remote_settled: boolean }).remote_settled = true;
  }

  #forgetLink(connection: Connection, link: Sender): void {
    this.#connections.get(connection)?.links.delete(link);
    const sessions = this.#linkSessionQueues.get(link);
    if (sessions) sessions.release(link);
    else this.#linkQueues.get(link)?.detach(link);
    this.#linkQueues.delete(link);
    this.#linkSessionQueues.delete(link);
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
    const sessions = this.#sessionQueues.get(entityPath.toLowerCase());
    const requestProperties = (request.application_properties ?? {}) as Record<string, unknown>;
    const operation = String(requestProperties.operation ?? "");
    const body = (request.body ?? {}) as Record<string, unknown>;
    let response: ManagementResponse;
    if (sessions) response = manageSessions(sessions, operation, body, optionalString(requestProperties["associated-link-name"]));
    else if (!queue) response = failure(404, "amqp:not-found", `The messaging entity '${entityPath}' could not be found.`);
    else if (operation === "com.microsoft:renew-lock") response = renewLocks(queue, body);
    else if (operation === "com.microsoft:peek-message") response = peek(queue.messages(), body);
    else if (operation === "com.microsoft:update-disposition") response = updateDisposition(queue, body);
    else response = failure(501, "amqp:not-implemented", `The test broker does not implement ${operation || "this operation"}.`);
    const properties: Record<string, unknown> = { statusCode: response.statusCode, statusDescription: response.description };
    if (response.condition) properties.errorCondition = response.condition;
    reply(connection, request, properties, response.body);
  }
}

/** $management on a session-enabled queue: the session lock, and peeks across sessions or in one. */
function manageSessions(sessions: SessionQueue, operation: string, body: Record<string, unknown>, linkName: string | undefined): ManagementResponse {
  const sessionId = optionalString(body["session-id"]);
  if (operation === "com.microsoft:peek-message") return peek(sessions.messages(sessionId), body);
  if (operation === "com.microsoft:renew-session-lock") {
    // The SDK names the receiver link the session is held on: a renewal from a link that lost the session fails.
    const expiration = sessionId === undefined ? undefined : sessions.renewLock(sessionId, linkName);
    if (!expiration) return failure(410, SESSION_LOCK_LOST, SESSION_LOCK_LOST_DESCRIPTION);
    return { statusCode: 200, description: "OK", body: { expiration } };
  }
  return failure(501, "amqp:not-implemented", `The test broker does not implement ${operation || "this operation"} on session-enabled queues.`);
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

function peek(messages: readonly StoredMessage[], body: Record<string, unknown>): ManagementResponse {
  const from = Number(body["from-sequence-number"] ?? 1);
  const count = Number(body["message-count"] ?? 1);
  const found = messages.filter((stored) => stored.sequenceNumber >= from).slice(0, count);
  // The SDK takes 204 for "nothing there" and reads the rest as encoded messages.
  if (found.length === 0) return { statusCode: 204, description: "No messages" };
  return {
    statusCode: 200,
    description: "OK",
    body: { messages: found.map((stored) => ({ message: rhea.message.encode(wireMessage(stored)) })) },
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
    sessionId: optionalString(stored.message.group_id),
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

/**
 * rhea opens a link the moment the peer attaches, and sends our attach when the handler
 * returns; this takes the open back, so that link.attach() answers later (untyped state).
 */
function holdAttach(link: Link): void {
  const state = (link as unknown as { state: { local_open: boolean; open_requests: number } }).state;
  state.local_open = false;
  state.open_requests--;
}

/** How long a next-session request may wait: the client's `com.microsoft:timeout` (ms), as Service Bus takes it. */
function sessionWaitInMs(link: Link): number {
  const requested = Number((link.properties as Record<string, unknown> | undefined)?.["com.microsoft:timeout"]);
  return Number.isFinite(requested) && requested > 0 ? requested : DEFAULT_SESSION_WAIT_IN_MS;
}

/** A time as .NET ticks (100 ns since 0001-01-01) in an AMQP long, as Service Bus states a session lock's expiry. */
function ticksOf(date: Date): unknown {
  const bytes = Buffer.alloc(8);
  bytes.writeBigInt64BE(BigInt(date.getTime()) * 10_000n + 621_355_968_000_000_000n);
  return rhea.types.wrap_long(bytes);
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

function optionalString(value: unknown): string | undefined {
  return value === undefined || value === null ? undefined : String(value);
}

function idKey(id: unknown): string {
  return Buffer.isBuffer(id) ? `b:${id.toString("hex")}` : `s:${String(id)}`;
}

function asRecord(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) && !Buffer.isBuffer(value)
    ? { ...(value as Record<string, unknown>) }
    : {};
}
