import { execFileSync } from 'node:child_process';

import { bootVm, type Vm } from '../../guest-image/launch.mjs';

export type BootedVm = Vm;

/** Why the real-VM suite cannot run here, or undefined when it can. */
export function vmUnavailableReason(): string | undefined {
  try {
    execFileSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)';
  }
  for (const tool of ['lz4', 'cpio', 'busybox', 'modinfo', 'apt-get', 'dpkg-deb']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed (see .ci/run for the packages the image build needs)`;
    }
  }
  return undefined;
}

let booting: Promise<BootedVm> | undefined;

/** One VM per test process, booted on first use and stopped when the process ends. */
export function sharedVm(): Promise<BootedVm> {
  booting ??= (async () => {
    const vm = await bootVm();
    process.once('beforeExit', () => void vm.stop());
    console.log(`e2e: VM ready in ${vm.bootToReadyMs} ms (boot to first handshake), image ${(vm.imageBytes / 1e6).toFixed(1)} MB`);
    return vm;
  })();
  return booting;
}
