import type { SipRequest } from "./message.js";
import { type ResponseOptions, buildResponse, serializeMessage } from "./serializer.js";
import type { Flow } from "./transport/flow.js";

/** How a request's answers leave: through its server transaction. */
export interface ResponseSink {
  respond(data: Buffer, status: number): void;
}

/**
 * A request handed to a method handler (drachtio-srf style): the message, where it
 * came from, and `respond`, which builds the response per §8.2.6 and sends it
 * through the request's transaction (so retransmissions are answered alike).
 */
export class IncomingRequest {
  readonly request: SipRequest;
  readonly flow: Flow;
  readonly #sink: ResponseSink;
  #finalSent = false;
  #onCancel: (() => void) | undefined;
  #cancelled = false;

  constructor(request: SipRequest, flow: Flow, sink: ResponseSink) {
    this.request = request;
    this.flow = flow;
    this.#sink = sink;
  }

  get method(): string {
    return this.request.method;
  }

  get answered(): boolean {
    return this.#finalSent;
  }

  get cancelled(): boolean {
    return this.#cancelled;
  }

  /**
   * Sends a response and returns its bytes (a dialog retransmits its 2xx with them);
   * after a final one further calls are ignored (a late answer after CANCEL or a timeout).
   */
  respond(status: number, reason: string, options: ResponseOptions = {}): Buffer | undefined {
    if (this.#finalSent) return undefined;
    if (status >= 200) this.#finalSent = true;
    const data = serializeMessage(buildResponse(this.request, status, reason, options));
    this.#sink.respond(data, status);
    return data;
  }

  /** Called when the caller CANCELs this INVITE before a final answer; the stack has answered the CANCEL and will send 487. */
  onCancel(listener: () => void): void {
    this.#onCancel = listener;
  }

  /** @internal the stack reports a CANCEL that matched this INVITE. */
  cancel(): void {
    if (this.#finalSent || this.#cancelled) return;
    this.#cancelled = true;
    this.#onCancel?.();
    this.respond(487, "Request Terminated");
  }
}
