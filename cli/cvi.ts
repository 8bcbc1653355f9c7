#!/usr/bin/env node
// `cvi`: the OpenCVI admin command line (see `cvi --help`); ./cvi runs it with the project's Node.
import { main } from "./main.js";

// `cvi tenant list | head` closes the pipe early: that is no error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw e;
  });
}

process.exitCode = await main(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
  cwd: process.cwd(),
});
