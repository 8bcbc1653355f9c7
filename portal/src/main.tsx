import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { Auth } from "./auth";
import { loadConfig } from "./config";

const root = createRoot(document.getElementById("root") as HTMLElement);

try {
  const config = await loadConfig();
  const auth = await Auth.start(config);
  root.render(
    <StrictMode>
      <App config={config} auth={auth} />
    </StrictMode>,
  );
} catch (e) {
  // Nothing else can render without configuration or MSAL: say why, plainly.
  root.render(
    <main>
      <h1>OpenCVI</h1>
      <p role="alert">The portal could not start: {(e as Error).message}</p>
    </main>,
  );
}
