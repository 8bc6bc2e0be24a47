// The Node reference for bench/fanout.py: the official socket.io server, default options,
// storing nothing. It speaks just enough of Parley's protocol (`session`,
// `room:create`/`room:join`, `message:send` with an ack) for the benchmark's clients to
// drive it exactly like Parley and the bare python-socketio relay.
//
//   npm ci --prefix bench          # once (bench/package-lock.json pins socket.io)
//   node bench/node_relay.js --port 8767
"use strict";

const http = require("http");
const { Server } = require("socket.io");

function argValue(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const host = argValue("--host", "127.0.0.1");
const port = Number(argValue("--port", "8767"));

const httpServer = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end('{"status":"ok"}');
    return;
  }
  // socket.io answers its own path; anything else is not found
  if (!req.url.startsWith("/socket.io/")) {
    res.writeHead(404);
    res.end();
  }
});

const io = new Server(httpServer); // default options: no perMessageDeflate, maxHttpBufferSize 1e6
let nextId = 1;

io.on("connection", (socket) => {
  const auth = socket.handshake.auth || {};
  const name = String(auth.username || socket.id);
  socket.emit("session", { user: { name } });

  const join = (data, ack) => {
    const room = (data && (data.room || data.name)) || "";
    socket.join(room);
    if (typeof ack === "function") ack({ ok: true, room: { id: room } });
  };
  socket.on("room:join", join);
  socket.on("room:create", join);

  socket.on("message:send", (data, ack) => {
    const room = data.room;
    const message = {
      id: nextId++,
      room,
      sender: name,
      ts: Date.now(),
      kind: "text",
      text: data.text || "",
      client_id: data.client_id,
    };
    socket.to(room).emit("message", message);
    if (typeof ack === "function") ack({ ok: true, message });
  });
});

httpServer.listen(port, host);
for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    io.close();
    process.exit(0);
  });
}
