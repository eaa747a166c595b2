// Minimal room-broadcast server on Node socket.io 4.8, a peer for Parley's
// benchmarks (bench/).
//
// Protocol: Socket.IO v5 over Engine.IO v4, WebSocket transport only:
// ws://HOST:PORT/socket.io/?EIO=4&transport=websocket&room=<room>. On connect the
// socket joins <room> and gets the event "ready"; every "msg" event is emitted to
// the whole room, the sender included.
//
// Usage: node server.js PORT
'use strict';

const { createServer } = require('node:http');
const { Server } = require('socket.io');

const port = Number(process.argv[2]);
const httpServer = createServer();
const io = new Server(httpServer, {
  transports: ['websocket'],
  serveClient: false,
  perMessageDeflate: false,
  httpCompression: false,
});

io.on('connection', (socket) => {
  const room = String(socket.handshake.query.room || 'bench');
  socket.join(room);
  socket.on('msg', (body) => {
    io.to(room).emit('msg', body);
  });
  socket.emit('ready');
});

httpServer.listen(port, '127.0.0.1', 1024);
