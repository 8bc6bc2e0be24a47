// A load-generator worker for bench/fanout.py built on the official socket.io-client
// (websocket transport, default options: it offers permessage-deflate like any browser or
// Node client). bench/fanout.py starts several of these and drives them over stdin/stdout:
//
//   worker -> "connected N" / "created" / "joined N" / "result {json}" / "error text"
//   fanout -> "join" / "send" / "exit"
//
// The plan comes as one JSON argument (see NodeLoad in bench/fanout.py).
"use strict";

const readline = require("readline");
const { io } = require("socket.io-client");

const plan = JSON.parse(process.argv[2]);
const say = (line) => process.stdout.write(line + "\n");
const now = () => (performance.timeOrigin + performance.now()) / 1000; // epoch seconds

function connect(idx) {
  return new Promise((resolve, reject) => {
    const socket = io(plan.url, {
      transports: ["websocket"],
      auth: { username: `b${plan.runId}_${idx}`, password: plan.password },
      reconnection: false,
      forceNew: true,
    });
    const state = { idx, socket, expected: 0, received: 0, firstAt: 0, lastAt: 0, done: null };
    socket.once("session", () => resolve(state));
    socket.once("connect_error", (err) => reject(new Error(`connect ${idx}: ${err.message}`)));
    socket.on("message", (m) => {
      if (typeof m.client_id === "string" && m.client_id.startsWith(plan.marker)) {
        const t = now();
        if (!state.received) state.firstAt = t;
        state.received += 1;
        state.lastAt = t;
        if (state.received >= state.expected && state.done) state.done();
      }
    });
  });
}

function call(socket, event, payload) {
  return new Promise((resolve) => socket.emit(event, payload, resolve));
}

async function sendAll(state, out) {
  const { socket, idx } = state;
  let next = 0;
  async function lane() {
    while (next < plan.messages) {
      const i = next++;
      const cid = `${plan.marker}${plan.runId}-${idx}-${i}`;
      const t0 = performance.now();
      const ack = await call(socket, "message:send", {
        room: plan.room, client_id: cid, text: `${cid} hello everyone`,
      });
      out.latencies.push(performance.now() - t0);
      if (!ack || !ack.ok) out.errors.push(`send ${cid}: ${JSON.stringify(ack)}`);
    }
  }
  await Promise.all(Array.from({ length: plan.window }, lane));
}

async function main() {
  const clients = [];
  for (const idx of plan.indices) clients.push(await connect(idx));
  const first = clients.find((c) => c.idx === 0);
  if (first) {
    const ack = await call(first.socket, "room:create", { name: plan.room });
    if (!ack.ok) throw new Error(`room:create: ${JSON.stringify(ack)}`);
    say("created");
  }
  say(`connected ${clients.length}`);
  const lines = readline.createInterface({ input: process.stdin });
  const commands = lines[Symbol.asyncIterator]();
  const expect = async (word) => {
    const { value } = await commands.next();
    if (value !== word) throw new Error(`expected ${word}, got ${value}`);
  };
  await expect("join");
  for (const c of clients) {
    if (c.idx !== 0) {
      const ack = await call(c.socket, "room:join", { room: plan.room });
      if (!ack.ok) throw new Error(`join ${c.idx}: ${JSON.stringify(ack)}`);
    }
  }
  const senders = new Set(plan.senders);
  for (const c of clients) {
    c.expected = (plan.senders.length - (senders.has(c.idx) ? 1 : 0)) * plan.messages;
  }
  say(`joined ${clients.length}`);
  await expect("send");
  const out = { latencies: [], errors: [] };
  const sendStart = now();
  const cpu0 = process.cpuUsage();
  const waits = clients.filter((c) => c.expected).map((c) => new Promise((resolve) => {
    c.done = resolve;
    if (c.received >= c.expected) resolve();
  }));
  const sends = clients.filter((c) => senders.has(c.idx)).map((c) => sendAll(c, out));
  await Promise.all([...sends, ...waits]);
  const cpu = process.cpuUsage(cpu0);
  const withAny = clients.filter((c) => c.received);
  say("result " + JSON.stringify({
    received: clients.reduce((n, c) => n + c.received, 0),
    first_at: withAny.length ? Math.min(...withAny.map((c) => c.firstAt)) : 0,
    last_at: withAny.length ? Math.max(...withAny.map((c) => c.lastAt)) : 0,
    send_start: sendStart,
    latencies_ms: out.latencies,
    errors: out.errors.slice(0, 20),
    cpu_s: (cpu.user + cpu.system) / 1e6,
  }));
  await expect("exit");
  for (const c of clients) c.socket.close();
  process.exit(0);
}

main().catch((err) => {
  say("error " + String(err && err.stack ? err.stack : err).replace(/\n/g, " | "));
  process.exit(1);
});
