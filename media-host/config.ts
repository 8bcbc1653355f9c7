import { z } from "zod";

/**
 * A media host's settings (environment of its VM; the scale set's template sets them).
 * Media hosts face the internet, so they hold no Graph credentials: they reach the
 * control plane with their own identity, which carries the CVI.MediaHost app role.
 */
const httpsUrl = (name: string) =>
  z
    .string({ error: `${name} is required` })
    .url(`${name} must be an absolute URL`)
    .refine(
      (u) => u.startsWith("https://") || u.startsWith("http://127.0.0.1") || u.startsWith("http://localhost"),
      `${name} must be https (or loopback http)`,
    )
    .transform((u) => u.replace(/\/+$/, ""));

export const mediaHostConfigSchema = z.object({
  /** This host's id: the bus delivers the events of its calls to it. */
  MEDIA_HOST_ID: z
    .string({ error: "MEDIA_HOST_ID is required" })
    .regex(/^[A-Za-z0-9._-]{1,128}$/, "MEDIA_HOST_ID must be 1-128 letters, digits, . _ or -"),
  /** The control plane's API base, e.g. https://func-cvi.azurewebsites.net/api. */
  CONTROL_PLANE_URL: httpsUrl("CONTROL_PLANE_URL"),
  /** The scope of the control plane's API (its app id URI + /.default). */
  CONTROL_PLANE_SCOPE: z.string().min(1).default("api://opencvi-admin/.default"),
  /** Entra ID: managed identity in Azure; a client secret only where there is none (the local stack). */
  AZURE_TENANT_ID: z.string().optional(),
  AZURE_CLIENT_ID: z.string().optional(),
  AZURE_CLIENT_SECRET: z.string().optional(),
  AZURE_AUTHORITY_HOST: httpsUrl("AZURE_AUTHORITY_HOST").default("https://login.microsoftonline.com"),
});

export type MediaHostConfig = z.output<typeof mediaHostConfigSchema>;

export class MediaHostConfigError extends Error {
  override readonly name = "MediaHostConfigError";
}

export function loadMediaHostConfig(env: NodeJS.ProcessEnv = process.env): MediaHostConfig {
  const picked = Object.fromEntries(Object.keys(mediaHostConfigSchema.shape).map((k) => [k, env[k] === "" ? undefined : env[k]]));
  const result = mediaHostConfigSchema.safeParse(picked);
  if (!result.success) {
    throw new MediaHostConfigError(
      `invalid media host configuration:\n${result.error.issues.map((i) => `- ${String(i.path[0])}: ${i.message}`).join("\n")}`,
    );
  }
  if (result.data.AZURE_CLIENT_SECRET && (!result.data.AZURE_TENANT_ID || !result.data.AZURE_CLIENT_ID)) {
    throw new MediaHostConfigError("invalid media host configuration:\n- AZURE_CLIENT_SECRET needs AZURE_TENANT_ID and AZURE_CLIENT_ID");
  }
  return result.data;
}
