import { z } from "zod";

/**
 * Building blocks for a service's settings (environment variables), shared by the media
 * hosts and the SIP edge: each names its setting in the message a wrong value gets.
 */

/** A service URL: https, or plain http on loopback (the local stack). Trailing slashes dropped. */
export const serviceUrlSetting = (name: string) =>
  z
    .string({ error: `${name} is required` })
    .url(`${name} must be an absolute URL`)
    .refine(
      (u) => u.startsWith("https://") || u.startsWith("http://127.0.0.1") || u.startsWith("http://localhost"),
      `${name} must be https (or loopback http)`,
    )
    .transform((u) => u.replace(/\/+$/, ""));

export const portSetting = (name: string, fallback: number) =>
  z.coerce
    .number({ error: `${name} must be a port number` })
    .int(`${name} must be a port number`)
    .min(0, `${name} must be 0-65535`)
    .max(65535, `${name} must be 0-65535`)
    .default(fallback);

/** A comma-separated list, each item matching `item`. */
export const listSetting = (name: string, item: RegExp, what: string) =>
  z
    .string()
    .default("")
    .transform((value) =>
      value
        .split(",")
        .map((v) => v.trim())
        .filter(Boolean),
    )
    .refine((values) => values.every((v) => item.test(v)), `${name} must be a comma-separated list, each ${what}`);

/** Picks the schema's settings from `env` (empty = unset) and parses them; `fail` builds the error from one line per problem. */
export function readSettings<S extends z.ZodObject>(schema: S, env: NodeJS.ProcessEnv, fail: (lines: readonly string[]) => Error): z.output<S> {
  const picked = Object.fromEntries(Object.keys(schema.shape).map((k) => [k, env[k] === "" ? undefined : env[k]]));
  const result = schema.safeParse(picked);
  if (!result.success) throw fail(result.error.issues.map((i) => `- ${String(i.path[0])}: ${i.message}`));
  return result.data;
}
