export { connect, localCid, type ConnectOptions } from './connect.js';
export { VMADDR_CID_ANY, VMADDR_CID_HOST, VMADDR_CID_LOCAL } from './constants.js';
export { VsockUnavailableError, vsockError } from './errors.js';
export { createServer, VsockServer, type VsockServerOptions } from './server.js';
export type { VsockSocket } from './vsock-socket.js';
