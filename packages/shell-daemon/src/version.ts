/** Reported in Welcome; kept in step with package.json by the release process. */
export const DAEMON_VERSION = '0.1.0';
