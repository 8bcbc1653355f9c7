import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The local CA (scripts/dev-tls.sh), which the tests' NODE_EXTRA_CA_CERTS trusts. */
export const LOCAL_TLS_DIRECTORY = ".local/tls";

/**
 * A TLS directory for a stack on `address`: the local CA (copied) and a server certificate
 * scripts/dev-tls.sh makes for localhost and that address, as `npm start` does for
 * OPENCVI_ADDRESS, in a directory of its own (the shared one is left as it is).
 */
export function tlsFor(address: string): string {
  const directory = mkdtempSync(join(tmpdir(), "opencvi-tls-"));
  for (const file of ["ca.pem", "ca-key.pem"]) copyFileSync(join(LOCAL_TLS_DIRECTORY, file), join(directory, file));
  execFileSync("bash", ["scripts/dev-tls.sh", directory, address], { stdio: "pipe" });
  return directory;
}
