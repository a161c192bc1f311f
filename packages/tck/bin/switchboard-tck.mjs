#!/usr/bin/env node
// Launcher of the `switchboard-tck` command: runs the compiled CLI (built by `npm run build`,
// which the repository's `prepare` script runs on `npm ci`).
import { main } from "../dist/cli.js";

process.exitCode = await main(process.argv.slice(2));
