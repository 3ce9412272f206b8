import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { connect, type Channel, type ChannelModel, type Options } from 'amqplib';

const run = promisify(execFile);

/** The broker the tests use: the machine's RabbitMQ (`.ci/run` makes sure one runs). */
export const RABBITMQ_URL = process.env['SWITCHBOARD_TEST_RABBITMQ_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';

/** A name no other test run uses: queues and exchanges are per run. */
export const uniqueName = (prefix: string): string => `${prefix}.${process.pid}.${randomBytes(4).toString('hex')}`;

/**
 * A test's own connection to the real RabbitMQ: publishes, inspects queues, and drops a named
 * client's connection with rabbitmqctl. Fails loudly when no broker runs: never a silent skip.
 */
export class RabbitBroker {
  private constructor(
    private readonly model: ChannelModel,
    readonly channel: Channel,
  ) {}

  static async connect(): Promise<RabbitBroker> {
    let model: ChannelModel;
    try {
      model = await connect(RABBITMQ_URL);
    } catch (err) {
      throw new Error(
        `RabbitMQ is not reachable at ${RABBITMQ_URL} (${(err as Error).message}): start it with \`rabbitmq-server -detached\` ` +
          '(.ci/run installs and starts it), or point SWITCHBOARD_TEST_RABBITMQ_URL at one',
      );
    }
    return new RabbitBroker(model, await model.createChannel());
  }

  /** Publishes persistently; `options` adds message properties (e.g. `messageId`). */
  publish(exchange: string, routingKey: string, content: string | Buffer, options: Options.Publish = {}): void {
    this.channel.publish(exchange, routingKey, typeof content === 'string' ? Buffer.from(content) : content, { persistent: true, ...options });
  }

  /** Messages of a queue waiting to be delivered, and delivered but not yet acknowledged. */
  async queueCounts(queue: string): Promise<{ ready: number; unacked: number } | undefined> {
    const { stdout } = await run('rabbitmqctl', ['-q', 'list_queues', 'name', 'messages_ready', 'messages_unacknowledged']);
    const row = stdout.split('\n').map((line) => line.split('\t')).find(([name]) => name === queue);
    return row === undefined ? undefined : { ready: Number(row[1]), unacked: Number(row[2]) };
  }

  /** Connections whose `connection_name` client property contains `name`, by Erlang pid. */
  async connectionPids(name: string): Promise<string[]> {
    const { stdout } = await run('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties']);
    return stdout
      .split('\n')
      .filter((line) => line.includes(`"connection_name","${name}"`))
      .map((line) => line.split('\t')[0] as string);
  }

  /** Closes (server side, as a broker restart or a network cut would) every connection named `name`. */
  async dropConnections(name: string): Promise<number> {
    const pids = await this.connectionPids(name);
    for (const pid of pids) await run('rabbitmqctl', ['-q', 'close_connection', pid, 'switchboard test: connection dropped']);
    return pids.length;
  }

  async close(): Promise<void> {
    await this.model.close().catch(() => undefined);
  }
}
