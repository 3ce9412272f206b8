/**
 * Baseline: the `ws` server most Node teams start with — an HTTP server, a WebSocketServer on
 * `/ws`, and `POST /publish` (one frame per line) broadcasting each line in a loop over
 * `wss.clients` (the pattern of ws's README), the frame converted to a Buffer once.
 */
import { createServer } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { readBody } from './http-body.js';

const port = Number(process.env['PORT'] ?? 9002);
const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/publish') {
    void readBody(req).then((body) => {
      const lines = body.split('\n');
      for (const line of lines) {
        if (!line) continue;
        const frame = Buffer.from(line);
        for (const client of wss.clients) if (client.readyState === WebSocket.OPEN) client.send(frame, { binary: false });
      }
      res.writeHead(202).end(`{"published":${lines.length}}`);
    });
    return;
  }
  if (req.url === '/health') return void res.end(JSON.stringify({ status: 'ok', clients: wss.clients.size }));
  res.writeHead(404).end();
});
const wss = new WebSocketServer({ server, path: '/ws', maxPayload: 64 * 1024 });
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
