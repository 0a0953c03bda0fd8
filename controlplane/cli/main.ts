// Entry point of the `causeway` command (bin/causeway.js imports this).
import { main } from './program.ts';

process.exitCode = await main(process.argv.slice(2));
