#!/usr/bin/env node
// Launcher of the `switchboard` command: runs the compiled CLI (built by `npm run build`,
// which the repository's `prepare` script runs on `npm ci`).
import { main } from "../dist/main.js";

const code = await main(process.argv.slice(2), process.env);
process.exitCode = code;
