import { type Logger, pino } from "pino";

/** The media host's root logger: JSON lines on stdout, level from LOG_LEVEL. */
export function createRootLogger(options: { mediaHostId: string; level?: string }): Logger {
  return pino({
    level: options.level ?? process.env.LOG_LEVEL ?? "info",
    base: { mediaHost: options.mediaHostId },
    // Credentials never reach the logs, even when an object carrying them is logged by mistake.
    redact: { paths: ["*.authorization", "*.token", "*.clientSecret", "*.password", "headers.authorization"], censor: "[redacted]" },
  });
}

/** One child logger per call, so every line of a call carries its ids (drachtio-srf style). */
export function callLogger(root: Logger, call: { callId: string; tenantKey?: string; source?: string }): Logger {
  return root.child({
    callId: call.callId,
    ...(call.tenantKey ? { tenantKey: call.tenantKey } : {}),
    ...(call.source ? { source: call.source } : {}),
  });
}
