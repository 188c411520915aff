import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConchError, ErrorCodes } from '@conch/protocol';

const BY_NAME = '/dev/virtio-ports';
const SYSFS = '/sys/class/virtio-ports';

/**
 * The device node of a named virtio-serial port: udev's /dev/virtio-ports/NAME symlink, or,
 * in guests without udev (initramfs, minimal images), the vportNpM whose sysfs `name` matches.
 */
export function findVirtioPort(name: string): string {
  const link = join(BY_NAME, name);
  if (existsSync(link)) return link;
  let ports: string[] = [];
  try {
    ports = readdirSync(SYSFS);
  } catch {
    // No virtio-serial driver loaded: fall through to the error below.
  }
  for (const port of ports) {
    try {
      if (readFileSync(join(SYSFS, port, 'name'), 'utf8').trim() === name) return join('/dev', port);
    } catch {
      // A port without a name attribute is not the one we want.
    }
  }
  throw new ConchError(
    ErrorCodes.INVALID_ARGUMENT,
    `no virtio-serial port named ${JSON.stringify(name)} (looked in ${BY_NAME} and ${SYSFS}/*/name; is virtio_console loaded?)`,
  );
}
