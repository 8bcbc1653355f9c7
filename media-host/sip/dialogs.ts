import type { IncomingRequest } from "./incomingRequest.js";
import type { SipRequest } from "./message.js";
import { type OfferAnswerer, ServerDialog, type ServerDialogOptions, type SessionOfferer } from "./serverDialog.js";
import type { SipStack } from "./sipStack.js";

/**
 * The dialogs of a stack, found by Call-ID and our tag: ACKs for our 2xx and
 * in-dialog BYEs are routed to them; a BYE for no dialog gets 481.
 */
export class Dialogs {
  readonly #dialogs = new Map<string, ServerDialog>();
  readonly #stack: SipStack;
  #options: ServerDialogOptions;

  constructor(stack: SipStack, options: ServerDialogOptions) {
    this.#stack = stack;
    this.#options = options;
    stack.on("ack", (request) => this.#find(request)?.receiveAck(request));
    stack.handle("BYE", (bye) => this.#inDialog(bye, (d) => d.receiveBye(bye)));
    stack.handle("UPDATE", (update) => this.#inDialog(update, (d) => d.receiveUpdate(update)));
    stack.handle("INFO", (info) => this.#inDialog(info, (d) => d.receiveInfo(info)));
    stack.handle("INVITE", (invite) => {
      // With our tag in To it is a re-INVITE of a dialog; without, a new call.
      if (invite.request.headers.to().tag !== undefined) return this.#inDialog(invite, (d) => d.receiveReinvite(invite));
      return this.#onCall(invite);
    });
  }

  /** Who answers the offers devices make inside their dialogs (the call, which owns the media). */
  answerOffersWith(answerOffer: OfferAnswerer): void {
    this.#options = { ...this.#options, answerOffer };
  }

  /** Who makes our offers for re-INVITEs that come without one (the call, which owns the media). */
  offerSessionWith(offerSession: SessionOfferer): void {
    this.#options = { ...this.#options, offerSession };
  }

  /** The handler of new calls (INVITEs outside any dialog). */
  onCall(handler: (invite: IncomingRequest) => void | Promise<void>): void {
    this.#onCall = handler;
  }

  #onCall: (invite: IncomingRequest) => void | Promise<void> = (invite) => {
    invite.respond(480, "Temporarily Unavailable");
  };

  async #inDialog(request: IncomingRequest, handle: (dialog: ServerDialog) => void | Promise<void>): Promise<void> {
    const dialog = this.#find(request.request);
    if (dialog) await handle(dialog);
    else request.respond(481, "Call/Transaction Does Not Exist");
  }

  get size(): number {
    return this.#dialogs.size;
  }

  /** Takes an INVITE into a dialog of ours; it is forgotten once it ends. */
  accept(invite: IncomingRequest): ServerDialog {
    const dialog = new ServerDialog(this.#stack, invite, this.#options);
    const key = `${dialog.callId}|${dialog.localTag}`;
    this.#dialogs.set(key, dialog);
    dialog.once("ended", () => this.#dialogs.delete(key));
    invite.onCancel(() => {
      this.#dialogs.delete(key);
      dialog.receiveCancel();
    });
    return dialog;
  }

  #find(request: SipRequest): ServerDialog | undefined {
    const tag = request.headers.to().tag;
    return tag === undefined ? undefined : this.#dialogs.get(`${request.headers.callId()}|${tag}`);
  }
}
