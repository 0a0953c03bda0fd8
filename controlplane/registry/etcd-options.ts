// How to reach etcd: the store's options (etcd-store.ts), also handed to the election worker
// (etcd-election.ts), which opens a client of its own with them.

export interface EtcdStoreOptions {
  /** Comma-separated or list of client URLs. */
  readonly endpoints: readonly string[];
  /** Nests every key under this prefix (tests isolate themselves this way). */
  readonly namespace?: string;
  readonly dialTimeoutMs?: number;
  /** PEMs for an etcd that speaks TLS: the CA that signs it, and the client certificate it requires. */
  readonly tls?:
    | {
        readonly ca: string;
        readonly cert?: string | undefined;
        readonly key?: string | undefined;
        /** The name to check etcd's certificate against, instead of the host of its URL (an IP, which TLS's SNI may not carry). */
        readonly serverName?: string | undefined;
      }
    | undefined;
  /**
   * How long one etcd call (a get, a range, a transaction) may take before it fails with "etcd is
   * not answering"; DEFAULT_ETCD_CALL_TIMEOUT_MS unless given. Watches and elections are streams
   * and have none. Keep it below the hub's HTTP request deadline, so that an API call held up by
   * one etcd call gets this answer, which knows whether the call was a write that may have landed.
   */
  readonly callTimeoutMs?: number;
  /**
   * How long this thread may stall while it leads before its term is given up (etcd-election.ts);
   * DEFAULT_STALL_BOUND_MS unless given.
   */
  readonly electionStallBoundMs?: number | undefined;
}
