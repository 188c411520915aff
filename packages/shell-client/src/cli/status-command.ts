import { parseArgs } from 'node:util';
import { EXIT_UNAVAILABLE } from './exit-codes.js';
import { openFromOptions, type GlobalOptions } from './global-options.js';

/** `conch status [--json]`: 0 when ready, 69 when unavailable, with the reason. */
export async function statusCommand(args: string[], global: GlobalOptions): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' } }, strict: true });
  const session = await openFromOptions(global);
  const status = session.status;
  await session.close();
  if (values.json) process.stdout.write(`${JSON.stringify(status)}\n`);
  else if (status.state === 'ready') {
    const d = status.daemon;
    process.stdout.write(
      d ? `ready ${status.endpoint}: conchd ${d.daemonVersion}, protocol ${d.protocolVersion}, instance ${d.instanceId}, capabilities ${d.capabilities.join(',') || '-'}\n`
        : `ready ${status.endpoint}\n`,
    );
  } else if (status.state === 'unavailable') {
    process.stderr.write(`conch: daemon unavailable (${status.reason}): ${status.message}\n`);
  }
  return status.state === 'ready' ? 0 : EXIT_UNAVAILABLE;
}
