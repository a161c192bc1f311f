#!/usr/bin/env node
// Launcher of `switchboard-generate`: generates TypeScript from a project's own protos.
import { generateCommand } from "../dist/generate.js";

process.exitCode = generateCommand(process.argv.slice(2), process.cwd());
