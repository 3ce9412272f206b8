import type { AvailabilityData } from '@switchboard/protocol';
import { hasNumbers, isString, offsetOf, type JsonObject } from '../core/guards.js';
import { RawEndpointClient, resumeQuery, type BaseEvents, type RawClientOptions } from '../core/raw-client.js';
import { endpointUrl } from '../core/websocket.js';

export const AVAILABILITY_PATH = '/ws/availability';
export const AVAILABILITY_CHANNEL = 'availability';
const AVAILABILITY_EVENT_TYPE = 'tour.availability.low';

export interface AvailabilityAlert {
  /** The ingest id (absent from servers that predate it). */
  id: string | undefined;
  data: AvailabilityData;
  timestamp: string;
  offset: number | undefined;
}

export type AvailabilityEvents = BaseEvents & {
  /** The greeting on every (re)connect. */
  connection: { clientId: string; message: string; timestamp: string };
  /** `tour.availability.low`, including the alerts replayed by a resume. */
  alert: AvailabilityAlert;
  /** The server's keep-alive. */
  ping: { timestamp: string };
};

/** `/ws/availability` (docs/protocol-availability.md): tour availability alerts; reconnects resume where the client left off. */
export class AvailabilityClient extends RawEndpointClient<AvailabilityEvents> {
  constructor(options: RawClientOptions) {
    super(options, { channel: AVAILABILITY_CHANNEL, url: (token, resume) => endpointUrl(options.url, AVAILABILITY_PATH, { token, ...resumeQuery(resume) }) });
  }

  protected onTransportOpen(): void {
    this.announceOpen();
  }

  protected handleFrame(frame: JsonObject & { type: string }): string | undefined {
    const timestamp = frame['timestamp'];
    switch (frame.type) {
      case 'connection':
        if (!isString(frame['clientId']) || !isString(timestamp)) return 'connection frame needs clientId and timestamp';
        if (this.cursor.expectsHello) this.receiveHello(frame);
        this.emit('connection', { clientId: frame['clientId'], message: isString(frame['message']) ? frame['message'] : '', timestamp });
        return undefined;
      case AVAILABILITY_EVENT_TYPE: {
        const data = frame['data'];
        if (!hasNumbers(data, ['availableSeats', 'maxGroupSize', 'threshold']) || !isString(data['tourId']) || !isString(data['tourTitle'])) {
          return 'data must have tourId, tourTitle, availableSeats, maxGroupSize and threshold';
        }
        if (!isString(timestamp)) return 'timestamp must be a string';
        const offset = offsetOf(frame);
        if (!this.acceptChannelFrame(offset, offset, true)) return undefined;
        this.emit('alert', { id: isString(frame['id']) ? frame['id'] : undefined, data: data as AvailabilityData, timestamp, offset });
        return undefined;
      }
      case 'ping':
        if (!isString(timestamp)) return 'timestamp must be a string';
        this.emit('ping', { timestamp });
        return undefined;
      case 'pong':
        return this.receivePong(frame);
      case 'error':
        return this.reportServerError(frame);
      default:
        return 'unknown frame type';
    }
  }
}
