#!/usr/bin/env node
// The `batchsync` command: TypeScript sources run through tsx, no build step.
import { register } from 'tsx/esm/api';

// The AWS SDK warns that Node 20 support ends in 2027; the deployed functions run on Node 22.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

register();
const { main } = await import('../functions/cli/main.ts');
process.exit(await main(process.argv.slice(2)));
