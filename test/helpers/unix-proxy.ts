import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A Unix-socket proxy in front of a daemon whose connections a test can cut, to simulate a
 * network drop without killing either end.
 */
export class UnixProxy {
  readonly path: string;
  readonly #server: Server;
  readonly #pairs = new Set<[Socket, Socket]>();

  private constructor(path: string, server: Server) {
    this.path = path;
    this.#server = server;
  }

  static start(path: string, target: string): Promise<UnixProxy> {
    let proxy: UnixProxy | undefined;
    const server = createServer((client) => {
      const upstream = createConnection(target);
      const pair: [Socket, Socket] = [client, upstream];
      proxy!.#pairs.add(pair);
      client.pipe(upstream).pipe(client);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        proxy!.#pairs.delete(pair);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
    proxy = new UnixProxy(path, server);
    return new Promise((resolve) => server.listen(path, () => resolve(proxy!)));
  }

  /** Cuts every open connection, as a dropped link would. */
  cutAll(): number {
    const n = this.#pairs.size;
    for (const [a, b] of [...this.#pairs]) {
      a.destroy();
      b.destroy();
    }
    this.#pairs.clear();
    return n;
  }

  close(): void {
    this.cutAll();
    this.#server.close();
  }
}
