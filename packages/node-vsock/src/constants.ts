/** Listen on every CID. */
export const VMADDR_CID_ANY = 0xffffffff;
/** The local guest itself (vsock_loopback). */
export const VMADDR_CID_LOCAL = 1;
/** The host, as seen from a guest. */
export const VMADDR_CID_HOST = 2;
