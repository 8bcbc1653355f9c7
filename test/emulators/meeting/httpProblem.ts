import type { ServerResponse } from "node:http";

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  503: "Service Unavailable",
};

/** A request the emulator refuses, answered as RFC 9457 problem details; `detail` says what was wrong. */
export class HttpProblem extends Error {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, detail: string, headers: Record<string, string> = {}) {
    super(detail);
    this.status = status;
    this.headers = headers;
  }

  send(res: ServerResponse): void {
    if (res.headersSent) {
      res.end();
      return;
    }
    const body = JSON.stringify({ type: "about:blank", title: TITLES[this.status] ?? "Error", status: this.status, detail: this.message });
    res.writeHead(this.status, { "content-type": "application/problem+json", "content-length": String(Buffer.byteLength(body)), ...this.headers });
    res.end(body);
  }
}
