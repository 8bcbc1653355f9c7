/**
 * Imports every function module. Outside the Functions host, @azure/functions runs in
 * "test mode" and warns once per registration that it skips it; here that is expected
 * (the local adapter serves the recorded routes), so those lines are held back.
 */
export async function loadFunctionModules(): Promise<void> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!/^WARNING: (Skipping call to register function|Failed to detect the Azure Functions runtime)/.test(String(args[0]))) warn(...args);
  };
  try {
    await import("../functions/handlers/index.js");
  } finally {
    console.warn = warn;
  }
}
