#!/usr/bin/env node
// The CLI is TypeScript run through tsx's loader: no build step, so `npx bx-hil` on a fresh
// clone runs exactly the sources that the tests ran.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../harness/cli/index.ts');
await main(process.argv);
