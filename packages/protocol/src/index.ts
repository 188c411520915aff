export { Capabilities, ClientCapabilities, type Capability } from './capabilities.js';
export { FrameChannel, CLOSE_FLUSH_TIMEOUT_MS, type FrameChannelEvents, type FrameChannelOptions } from './channel.js';
export { decodeBody, decodeClientMessage, decodeDaemonMessage, encodeBody } from './codec.js';
export { ErrorCodes, FATAL_STREAM_CODES, isErrorCode, type ErrorCode } from './codes.js';
export { formatEndpoint, parseEndpoint, VSOCK_CID_ANY, type Endpoint } from './endpoint.js';
export { ConchError, ProtocolError, RemoteError } from './errors.js';
export { createFrameDecoder, encodeFrame, encodeFrameParts, frameError } from './frame.js';
export type {
  Attach, Attached, ClientMessage, ClientMessageType, CommandExited, CommandInfo, CommandStarted, Credit, DaemonLimits,
  DaemonMessage, DaemonMessageType, Detach, DisconnectPolicy, EndInput, ErrorMessage, ExecCommand, Hello, Input, KillCommand,
  KillSession, ListSessions, Message, MessageType, Ok, OutputFd, Ping, Pong, PtyOptions, Reply, Resize, SessionInfo,
  SessionList, SessionSpawned, Signal, SpawnSession, StreamOutput, Welcome,
} from './messages.js';
export { MAX_DURATION_MS } from './schema.js';
export { isTerminalCells, MAX_TERMINAL_CELLS } from './terminal-size.js';
export { isRealTimeSignal, isSignalName, normalizeSignal, signalNumber, SIGNALS, type SignalName } from './signals.js';
export { CLIENT_MESSAGE_TYPES, DAEMON_MESSAGE_TYPES, validateClientMessage, validateDaemonMessage } from './validate.js';
export { varintLength, writeVarint } from './varint.js';
export {
  DEFAULT_MAX_FRAME_BYTES, MIN_MAX_FRAME_BYTES, negotiateVersion, PROTOCOL_VERSION_MAX, PROTOCOL_VERSION_MIN,
} from './version.js';
