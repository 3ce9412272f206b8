import { AnalyticsClient } from './analytics/client.js';
import { AvailabilityClient } from './availability/client.js';
import type { RawClientOptions } from './core/raw-client.js';
import { LogsClient, type LogsClientOptions } from './logs/client.js';
import type { SocketIoClientOptions } from './socketio/base.js';
import { ErrorMonitorClient } from './socketio/error-monitor.js';
import { JobMonitorClient } from './socketio/job-monitor.js';

/** Settings shared by every client of one Switchboard deployment. */
export type SwitchboardOptions = RawClientOptions & Pick<SocketIoClientOptions, 'socketOptions'>;

/**
 * One place to configure the SDK: clients are created on first use with shared settings
 * (URL, token, WebSocket implementation) and all closed by `close()`. The React provider takes
 * one of these.
 */
export class Switchboard {
  private analyticsClient: AnalyticsClient | undefined;
  private availabilityClient: AvailabilityClient | undefined;
  private errorsClient: ErrorMonitorClient | undefined;
  private jobsClient: JobMonitorClient | undefined;
  private readonly logClients = new Set<LogsClient>();

  constructor(readonly options: SwitchboardOptions) {}

  get analytics(): AnalyticsClient {
    return (this.analyticsClient ??= new AnalyticsClient(this.options));
  }

  get availability(): AvailabilityClient {
    return (this.availabilityClient ??= new AvailabilityClient(this.options));
  }

  get errors(): ErrorMonitorClient {
    return (this.errorsClient ??= new ErrorMonitorClient(this.socketIoOptions()));
  }

  get jobs(): JobMonitorClient {
    return (this.jobsClient ??= new JobMonitorClient(this.socketIoOptions()));
  }

  /** A new `/ws/logs` connection for one app (one connection per app, by protocol). */
  logs(options: Omit<LogsClientOptions, keyof RawClientOptions> & Partial<RawClientOptions>): LogsClient {
    const client = new LogsClient({ ...this.options, ...options });
    this.logClients.add(client);
    client.on('state', (state) => {
      if (state === 'closed') this.logClients.delete(client);
    });
    return client;
  }

  close(): void {
    for (const client of [this.analyticsClient, this.availabilityClient, this.errorsClient, this.jobsClient, ...this.logClients]) client?.close();
    this.logClients.clear();
  }

  private socketIoOptions(): SocketIoClientOptions {
    const { url, token, getToken, reconnect, requestTimeoutMs, socketOptions, autoConnect } = this.options;
    return {
      url: url.replace(/^ws(s?):/, 'http$1:'),
      ...(token !== undefined ? { token } : {}),
      ...(getToken !== undefined ? { getToken } : {}),
      ...(reconnect !== undefined ? { reconnect } : {}),
      ...(requestTimeoutMs !== undefined ? { requestTimeoutMs } : {}),
      ...(socketOptions !== undefined ? { socketOptions } : {}),
      ...(autoConnect !== undefined ? { autoConnect } : {}),
    };
  }
}
