#!/usr/bin/env node
// The `chord-sync` command; its code is in src/cli (built to dist/cli).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
