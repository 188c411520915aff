import { ConchError, ErrorCodes } from '@conch/protocol';
import type { ProcessSpec, SpawnedProcess } from './spawned-process.js';

/**
 * PTY commands arrive with the PTY work (node-pty, zero tail loss). Until then a PTY request
 * gets the typed error a daemon without node-pty gives.
 */
export async function spawnPty(spec: ProcessSpec): Promise<SpawnedProcess> {
  throw new ConchError(ErrorCodes.PTY_UNAVAILABLE, `PTY support is not available (requested for ${JSON.stringify(spec.argv[0])})`);
}

export function ptyAvailable(): boolean {
  return false;
}
