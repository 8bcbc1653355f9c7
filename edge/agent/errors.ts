/** Kamailio is not installed: the fix is a package. */
export class KamailioNotInstalledError extends Error {
  override readonly name = "KamailioNotInstalledError";
}

/** Kamailio exited or did not answer its RPC while starting; `logLines` are its last lines. */
export class KamailioStartError extends Error {
  override readonly name = "KamailioStartError";
  readonly logLines: readonly string[];
  constructor(message: string, logLines: readonly string[]) {
    super(logLines.length ? `${message}\nKamailio's last lines:\n  ${logLines.join("\n  ")}` : message);
    this.logLines = logLines;
  }
}

/** A JSON-RPC call Kamailio refused or could not take; `code` is Kamailio's (500, …) or the HTTP status. */
export class KamailioRpcError extends Error {
  override readonly name = "KamailioRpcError";
  readonly code: number | undefined;
  constructor(message: string, code: number | undefined) {
    super(message);
    this.code = code;
  }
}

/** The edge agent's settings are wrong: the message lists what to fix. */
export class EdgeConfigError extends Error {
  override readonly name = "EdgeConfigError";
}
