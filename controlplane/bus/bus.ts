// The port the hub needs from a message bus: publish, subscribe (optionally in a queue group, so
// that one of several hub replicas handles each message), and reply. NatsBus is the product's
// adapter; MemoryBus is the unit tests' fake. Both report their connection state.

export interface BusMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** Where to answer a request; undefined for plain publishes. */
  readonly reply?: string | undefined;
}

export interface Subscription {
  unsubscribe(): void;
}

export interface Bus {
  /** A handler that throws loses that message only; the subscription goes on (the adapter reports the error). */
  subscribe(subject: string, options: { readonly queue?: string }, handler: (msg: BusMessage) => void): Subscription;
  publish(subject: string, data: Uint8Array): void;
  /** Publishes with a reply inbox and resolves with the first answer; rejects when nobody answers in time. */
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /**
   * Whether this client's connection to the server is up now. A hub that hears nobody must not
   * conclude that every agent went silent (liveness holds expiries while it is down).
   */
  connected(): boolean;
  /** Called on every change of `connected()` (false on a disconnect, true on a reconnect). */
  onConnectionChange(listener: (connected: boolean) => void): Subscription;
  /** Resolves once everything published so far has reached the server. */
  flush(): Promise<void>;
  close(): Promise<void>;
}
