// Shared helpers for the interop scripts: connect with the official socket.io-client,
// record every incoming event, wait on conditions (never on sleeps), and print results
// as one JSON line that pytest parses. Buffers are summarised as {bytes, sha256} so the
// Python side can compare exact bytes.
"use strict";

const crypto = require("crypto");
const { io } = require("socket.io-client");

const STEP_TIMEOUT_MS = 10000;

function sha256(buf) {
  return crypto.createHash("sha256").update(buf).digest("hex");
}

// JSON-safe copy of a payload: Buffers/ArrayBuffers become {bytes, sha256}.
function plain(value) {
  if (Buffer.isBuffer(value)) {
    return { __binary__: true, bytes: value.length, sha256: sha256(value) };
  }
  if (value instanceof ArrayBuffer) {
    return plain(Buffer.from(value));
  }
  if (Array.isArray(value)) {
    return value.map(plain);
  }
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = plain(v);
    return out;
  }
  return value;
}

// A connected client that remembers every event it received, in order.
class Client {
  constructor(url, auth, transports) {
    this.events = []; // [{event, args}]
    this.waiters = [];
    this.socket = io(url, {
      auth,
      transports,
      reconnection: false,
      forceNew: true,
      timeout: STEP_TIMEOUT_MS,
    });
    this.socket.onAny((event, ...args) => {
      this.events.push({ event, args });
      this._wake();
    });
  }

  _wake() {
    for (const w of [...this.waiters]) {
      const found = this.events.slice(w.from).find(w.match);
      if (found) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(found.args[0]);
      }
    }
  }

  // Resolves with the `session` payload, rejects with the connect_error.
  ready() {
    return new Promise((resolve, reject) => {
      this.socket.once("connect_error", (err) => reject(err));
      this.waitFor("session").then(resolve, reject);
    });
  }

  // First event named `event` (at index >= from) whose payload satisfies pred.
  waitFor(event, pred = () => true, from = 0, timeoutMs = STEP_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      const w = {
        from,
        match: (e) => e.event === event && pred(e.args[0]),
        resolve,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          reject(new Error(`timed out waiting for ${event}`));
        }, timeoutMs),
      };
      this.waiters.push(w);
      this._wake();
    });
  }

  count(event, pred = () => true) {
    return this.events.filter((e) => e.event === event && pred(e.args[0])).length;
  }

  // emitWithAck with a timeout, so a missing ack fails the step instead of hanging.
  call(event, payload) {
    return this.socket.timeout(STEP_TIMEOUT_MS).emitWithAck(event, payload);
  }

  // The same call through a classic ack callback (err-first because of timeout()).
  callWithCallback(event, payload) {
    return new Promise((resolve, reject) => {
      this.socket.timeout(STEP_TIMEOUT_MS).emit(event, payload, (err, ack) => {
        if (err) reject(err);
        else resolve(ack);
      });
    });
  }

  close() {
    this.socket.disconnect();
  }
}

async function connect(url, auth, transports) {
  const client = new Client(url, auth, transports);
  const session = await client.ready();
  return { client, session };
}

// The connect_error a refused connection produces, as {message, data}; null if accepted.
async function refusal(url, auth, transports) {
  const client = new Client(url, auth, transports);
  try {
    await client.ready();
    client.close();
    return null;
  } catch (err) {
    client.close();
    return { message: err.message, data: err.data === undefined ? null : err.data };
  }
}

// Run main(url, transports, prefix, ...rest) and print its result (or the error) as JSON.
function runMain(main) {
  const [url, transport, prefix, ...rest] = process.argv.slice(2);
  if (!url || !transport || !prefix) {
    console.error("usage: node script.js URL websocket|polling PREFIX [args...]");
    process.exit(2);
  }
  const transports = [transport];
  const result = { transport, steps: {} };
  main(url, transports, prefix, result.steps, ...rest)
    .then(() => {
      result.ok = true;
    })
    .catch((err) => {
      result.ok = false;
      result.error = String((err && err.stack) || err);
    })
    .finally(() => {
      process.stdout.write(JSON.stringify(plain(result)) + "\n");
      // Sockets are closed by the scripts; exit anyway so a stray timer cannot hang pytest.
      process.exit(0);
    });
}

module.exports = { Client, connect, refusal, runMain, plain, sha256 };
