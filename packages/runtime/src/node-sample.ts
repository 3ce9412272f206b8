import { readFile, statfs } from 'node:fs/promises';
import { cpus, freemem, hostname, totalmem } from 'node:os';
import type { NodeReport } from '@switchboard/protocol';

type MachineFigures = Pick<NodeReport, 'host' | 'cpu' | 'memory' | 'disk' | 'network'>;

const cpuTimes = (): { idle: number; total: number } => {
  let idle = 0;
  let total = 0;
  for (const cpu of cpus()) {
    const t = cpu.times;
    idle += t.idle;
    total += t.user + t.nice + t.sys + t.idle + t.irq;
  }
  return { idle, total };
};

/** Bytes received and sent through every interface since boot (Linux); zeros elsewhere. */
async function networkBytes(): Promise<{ bytesReceived: number; bytesSent: number }> {
  try {
    const text = await readFile('/proc/net/dev', 'utf8');
    let bytesReceived = 0;
    let bytesSent = 0;
    for (const line of text.split('\n').slice(2)) {
      const [, counters] = line.split(':');
      const fields = counters?.trim().split(/\s+/).map(Number) ?? [];
      bytesReceived += fields[0] ?? 0;
      bytesSent += fields[8] ?? 0;
    }
    return { bytesReceived, bytesSent };
  } catch {
    return { bytesReceived: 0, bytesSent: 0 };
  }
}

async function diskFigures(path: string): Promise<NodeReport['disk']> {
  try {
    const fs = await statfs(path);
    const total = fs.blocks * fs.bsize;
    return { used: (fs.blocks - fs.bfree) * fs.bsize, free: fs.bavail * fs.bsize, total };
  } catch {
    return { used: 0, free: 0, total: 0 };
  }
}

/**
 * Samples this machine: CPU busy share since the previous sample, memory, the disk of the
 * working directory, network interface counters.
 */
export class MachineSampler {
  private last = cpuTimes();

  async sample(): Promise<MachineFigures> {
    const now = cpuTimes();
    const total = now.total - this.last.total;
    const usage = total > 0 ? (1 - (now.idle - this.last.idle) / total) * 100 : 0;
    this.last = now;
    const [disk, network] = await Promise.all([diskFigures(process.cwd()), networkBytes()]);
    const memTotal = totalmem();
    const memFree = freemem();
    return {
      host: hostname() || 'localhost',
      cpu: { usage: Math.round(Math.min(100, Math.max(0, usage)) * 100) / 100, cores: cpus().length },
      memory: { used: memTotal - memFree, free: memFree, total: memTotal },
      disk,
      network,
    };
  }
}
