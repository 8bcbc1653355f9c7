import type { IncomingRequest } from "./incomingRequest.js";
import type { SipRequest } from "./message.js";
import { ServerDialog, type ServerDialogOptions } from "./serverDialog.js";
import type { SipStack } from "./sipStack.js";

/**
 * The dialogs of a stack, found by Call-ID and our tag: ACKs for our 2xx and
 * in-dialog BYEs are routed to them; a BYE for no dialog gets 481.
 */
export class Dialogs {
  readonly #dialogs = new Map<string, ServerDialog>();
  readonly #stack: SipStack;
  readonly #options: ServerDialogOptions;

  constructor(stack: SipStack, options: ServerDialogOptions) {
    this.#stack = stack;
    this.#options = options;
    stack.on("ack", (request) => this.#find(request)?.receiveAck());
    stack.handle("BYE", (bye) => {
      const dialog = this.#find(bye.request);
      if (dialog) dialog.receiveBye(bye);
      else bye.respond(481, "Call/Transaction Does Not Exist");
    });
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
    invite.onCancel(() => this.#dialogs.delete(key));
    return dialog;
  }

  #find(request: SipRequest): ServerDialog | undefined {
    const tag = request.headers.to().tag;
    return tag === undefined ? undefined : this.#dialogs.get(`${request.headers.callId()}|${tag}`);
  }
}
