/**
 * The baseline for bench/realtime: bare Socket.IO 4 with the Redis adapter on ioredis, nothing else
 * (no auth, no membership, no sequence, no history). `join` puts the socket in a room; `msg` is
 * emitted to the room on every replica through the adapter.
 */
import { createServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const pub = new Redis(redisUrl);
const sub = pub.duplicate();
const instanceId = `bare-${process.pid}`;
// /health for the gateway's replica checks; Socket.IO handles /socket.io.
const http = createServer((req, res) => {
  if (req.url === '/health') res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
});
const io = new Server(http, {
  transports: ['websocket'],
  serveClient: false,
  adapter: createAdapter(pub, sub, { key: `${process.env.REDIS_KEY_PREFIX ?? 'bench'}:bare` }),
});

io.on('connection', (socket) => {
  socket.emit('hello', { instanceId });
  socket.on('join', (room: string, ack: () => void) => {
    void socket.join(room);
    ack();
  });
  socket.on('msg', (payload: { room: string }) => {
    io.to(payload.room).emit('msg', payload);
  });
});

http.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = http.address();
  console.log(JSON.stringify({ msg: 'bare listening', port: typeof address === 'object' && address ? address.port : 0 }));
});
process.on('SIGTERM', () => process.exit(0));
