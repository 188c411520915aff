import { afterAll, beforeAll, expect } from 'vitest';
import { bootVm, type Vm } from '../../guest-image/launch.mjs';
import { guestSession } from './guest-session.js';
import { vmUnavailableReason } from './vm.js';

/**
 * What the files that boot an image variant with conchd added by install.sh share.
 * Per-test bound: a test that hangs fails on its own, and guestSession closes what it opened, so
 * the VM's one virtio-serial connection is free for the next test.
 */
export const GUEST_TEST_MS = 180_000;

/** Why such a VM cannot run here: thrown in CI, which must run it; elsewhere printed, for a skip. */
export function installedImageUnavailable(init: string): string | undefined {
  const unavailable = vmUnavailableReason();
  if (unavailable && process.env.CI) throw new Error(`the real-VM suite must run in CI, but ${unavailable}`);
  if (unavailable) console.warn(`e2e: skipping the install.sh (${init}) VM: ${unavailable}`);
  return unavailable;
}

/** Inside a describe: boots the variant before its tests, stops it after, and reaches it. */
export function bootInstalledImage(init: 'inittab' | 'systemd' | 'openrc', label: string) {
  let vm: Vm | undefined;
  beforeAll(async () => {
    vm = await bootVm({ init });
    console.log(`e2e: ${label} VM ready in ${vm.bootToReadyMs} ms`);
  }, 600_000);
  afterAll(async () => {
    await vm?.stop();
  });
  return {
    /** The guest's virtio-serial port, the only endpoint these images serve. */
    get endpoint(): string {
      if (!vm) throw new Error(`the ${label} VM is not booted`);
      return vm.endpoints.virtioSerial;
    },
    /** Runs a shell command in the guest and returns its stdout; a non-zero exit fails the test. */
    async inGuest(command: string): Promise<string> {
      const s = guestSession(this.endpoint);
      try {
        const r = await s.exec(command);
        expect(r.exitCode, r.stderr).toBe(0);
        return r.stdout;
      } finally {
        await s.close();
      }
    },
  };
}
