import { Emitter, reportListenerErrors, type EventMap } from './emitter.js';

/**
 * Typed `on`/`once`/`off` for the SDK's clients. A listener that throws is reported as an
 * `error` event instead of breaking the socket callback that emitted.
 */
export abstract class TypedEvents<Events extends EventMap & { error: Error }> {
  private readonly emitter = new Emitter<Events>(reportListenerErrors((err) => this.events<{ error: Error }>().emit('error', err)));

  on<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): () => void {
    return this.emitter.on(event, listener);
  }

  once<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): () => void {
    return this.emitter.once(event, listener);
  }

  off<K extends keyof Events>(event: K, listener: (payload: Events[K]) => void): void {
    this.emitter.off(event, listener);
  }

  protected emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    this.emitter.emit(event, payload);
  }

  /**
   * The same emitter seen through the events every client of a family has (a generic event map
   * cannot be indexed with a concrete name, so base classes emit their own events through this).
   */
  protected events<Base extends EventMap>(): Emitter<Base> {
    return this.emitter as unknown as Emitter<Base>;
  }
}
