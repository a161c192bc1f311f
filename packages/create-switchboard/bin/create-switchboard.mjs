#!/usr/bin/env node
// Launcher of `create-switchboard` (`npm create switchboard <dir>`).
import { cli } from "../dist/cli.js";

process.exitCode = cli(process.argv.slice(2));
