import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// Static files only (dist/): the local stack serves them, Azure Static Web Apps in production;
// where the API and Entra ID are comes at run time from /config.json, so one build serves every environment.
export default defineConfig({
  plugins: [react()],
  // One bundle of ~230 kB gzipped (mostly Fluent UI), loaded once by people who work in it all day: no splitting yet.
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 1500 },
});
