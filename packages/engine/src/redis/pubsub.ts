import type { Logger } from 'pino';
import { quit, type Client, type ConnectionFactory } from './connections.js';
import type { Mode } from './mode.js';

/** What to do with a message on one pub/sub name. */
export type Route = (payload: string) => void;

/** One name's subscription: where its messages go, and the SUBSCRIBE every caller awaits. */
interface Subscription {
  route: Route;
  /** Settled once: resolved when subscribed; rejected (and the subscription forgotten) when not. */
  ready: Promise<void>;
}

/**
 * The engine's subscriber connection and its one dispatch map: every pub/sub name the engine
 * listens to (raw channels, probes, ingest wake-ups) has one subscription, whose route receives
 * its messages. Subscriptions are restored by hand after a reconnect (not by ioredis), so
 * listeners learn when every name is subscribed again and can fill the gap from history.
 */
export class PubSub {
  private subscriber: Client | undefined;
  private connecting: Promise<void> | undefined;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly restoredListeners = new Set<() => void>();

  constructor(
    private readonly mode: Mode,
    private readonly connect: ConnectionFactory,
    private readonly logger: Logger,
  ) {}

  /** Whether the subscriber connection (when there is one) is up. */
  healthy(): boolean {
    return this.subscriber === undefined || this.subscriber.status === 'ready';
  }

  /**
   * Subscribes every name not subscribed yet in one go (one command per slot on a cluster), and
   * resolves once every given name is subscribed. Callers of a name whose SUBSCRIBE is on its way
   * await the same SUBSCRIBE; when it fails they all reject, and the name is forgotten so a
   * later call tries again.
   */
  listen(routes: [name: string, route: Route][]): Promise<void> {
    const fresh = routes.filter(([name]) => !this.subscriptions.has(name));
    if (fresh.length > 0) {
      const ready: Promise<void> = this.client()
        .then((subscriber) => this.mode.subscribe(subscriber, fresh.map(([name]) => name)))
        .catch((err: unknown) => {
          for (const [name] of fresh) if (this.subscriptions.get(name)?.ready === ready) this.subscriptions.delete(name);
          throw err;
        });
      // Each caller sees the failure through its own await; this copy must not count as unhandled.
      ready.catch(() => undefined);
      for (const [name, route] of fresh) this.subscriptions.set(name, { route, ready });
    }
    const pending = routes.flatMap(([name]) => this.subscriptions.get(name)?.ready ?? []);
    return Promise.all(pending).then(() => undefined);
  }

  /** Stops listening to names (messages already on their way are dropped). */
  async unlisten(names: string[]): Promise<void> {
    for (const name of names) this.subscriptions.delete(name);
    if (this.subscriber === undefined) return;
    await Promise.all(names.map((name) => this.mode.unsubscribe(this.subscriber as Client, name)));
  }

  onRestored(listener: () => void): () => void {
    this.restoredListeners.add(listener);
    return () => this.restoredListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.subscriber !== undefined) await quit(this.subscriber);
  }

  private dispatch(name: string, payload: string): void {
    this.subscriptions.get(name)?.route(payload);
  }

  private async client(): Promise<Client> {
    if (this.subscriber === undefined) {
      const subscriber = this.mode.createSubscriber(this.connect);
      subscriber.on(this.mode.messageEvent, (name: string, payload: string) => this.dispatch(name, payload));
      let connectedBefore = false;
      subscriber.on(this.mode.reconnectedEvent, () => {
        if (connectedBefore) void this.restore(subscriber);
        connectedBefore = true;
      });
      this.subscriber = subscriber;
      this.connecting = subscriber.connect().then(() => {
        connectedBefore = true;
      });
      // The first callers learn of a failed connect; later ones go on (ioredis keeps reconnecting).
      void this.connecting.catch(() => undefined).finally(() => (this.connecting = undefined));
    }
    await this.connecting;
    return this.subscriber;
  }

  private async restore(subscriber: Client): Promise<void> {
    const names = [...this.subscriptions.keys()];
    try {
      await this.mode.subscribe(subscriber, names);
    } catch (err) {
      // The connection dropped again; the next reconnect restores them.
      this.logger.warn({ err }, 'restoring subscriptions failed; retrying on the next reconnect');
      return;
    }
    this.logger.info({ channels: names.length }, 'subscriptions restored');
    for (const listener of this.restoredListeners) listener();
  }
}
