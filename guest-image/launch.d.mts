/** Types for launch.mjs, for TypeScript callers (the e2e suite). */
export interface BootOptions {
  readonly accel?: 'tcg' | 'kvm';
  readonly memoryMb?: number;
  readonly cpus?: number;
  /**
   * 'tini' (default): the reference image. 'inittab' (busybox init), 'systemd' and 'openrc'
   * (minimal Debian by mmdebstrap): conchd added by install.sh as in a user's image; virtio-serial only.
   */
  readonly init?: 'tini' | 'inittab' | 'systemd' | 'openrc';
  readonly log?: (line: string) => void;
}

export interface Vm {
  readonly endpoints: { readonly virtioSerial: string; readonly hybridVsock: string };
  /** The per-VM directory holding the sockets and the console log. */
  readonly dir: string;
  readonly pid: number;
  /** Launch to first successful conch handshake. */
  readonly bootToReadyMs: number;
  /** Kernel plus initramfs. */
  readonly imageBytes: number;
  /** The guest's serial console so far. */
  console(): string;
  stop(): Promise<void>;
}

export function bootVm(options?: BootOptions): Promise<Vm>;
