// Protocol v2 search (section 16) and files (section 17) through the official
// socket.io-client plus Node's own fetch for the HTTP side: alice uploads a file with a
// bearer token, sends it, bob receives it and downloads it (whole and by Range); both
// search with word prefixes, diacritics folded, a quoted phrase, paging and a refused room.
// Every step records what the server answered; pytest asserts on it
// (test_interop_v2_search_files.py).
"use strict";

const { connect, runMain } = require("./lib");

async function main(url, transports, prefix, steps) {
  const password = "interop password";
  const room = `${prefix}-sf`;
  const secret = `${prefix}-secret`;
  const { client: alice, session: aliceSession } = await connect(
    url, { username: `${prefix}_alice`, password }, transports);
  const { client: bob, session: bobSession } = await connect(
    url, { username: `${prefix}_bob`, password }, transports);
  steps.features = aliceSession.server.features;

  await alice.call("room:create", { name: room });
  await bob.call("room:join", { room });
  await alice.call("room:create", { name: secret, private: true });

  // search
  steps.sent = [];
  for (const [i, text] of [
    "Mon Résumé est prêt", "the quick brown fox", "quick thinking", "brown quick bread",
    `${prefix} marker one`, `${prefix} marker two`, `${prefix} marker three`,
  ].entries()) {
    steps.sent.push(await alice.call("message:send", { room, client_id: `${prefix}-s${i}`, text }));
  }
  await alice.call("message:send", { room: secret, client_id: `${prefix}-x`, text: "quick secret" });
  steps.resume = await bob.call("message:search", { query: "resume PRET", room });
  steps.phrase = await bob.call("message:search", { query: '"quick brown"', room });
  steps.words = await bob.call("message:search", { query: "quick bro", room });
  steps.page1 = await bob.call("message:search", { query: `${prefix} mark`, limit: 2 });
  const last = steps.page1.messages[steps.page1.messages.length - 1];
  steps.page2 = await bob.call("message:search", { query: `${prefix} mark`, limit: 2, before: last.id });
  steps.bob_quick = await bob.call("message:search", { query: "quick" });
  steps.hidden = await bob.call("message:search", { query: "quick", room: secret });
  steps.bad = await bob.call("message:search", { query: "" });
  steps.syntax = await bob.call("message:search", { query: 'NEAR( "* AND' });

  // files: upload with fetch, send, receive, download
  const body = Buffer.alloc(50000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7) % 256;
  let resp = await fetch(`${url}/api/media?name=${encodeURIComponent("Übersicht.bin")}`, {
    method: "POST", body, headers: { Authorization: `Bearer ${aliceSession.token}` } });
  steps.upload_status = resp.status;
  steps.upload = await resp.json();
  const mark = bob.events.length;
  steps.file_send = await alice.call("message:send", {
    room, client_id: `${prefix}-f1`, text: "see attached", file: { upload: steps.upload.upload.id } });
  steps.file_broadcast = await bob.waitFor("message", (m) => m.client_id === `${prefix}-f1`, mark);
  steps.file_reuse = await alice.call("message:send", {
    room, client_id: `${prefix}-f2`, file: { upload: steps.upload.upload.id } });
  steps.file_and_image = await alice.call("message:send", {
    room, client_id: `${prefix}-f3`, file: { upload: steps.upload.upload.id },
    image: { data: Buffer.from("x") } });
  const mediaUrl = `${url}/media/${steps.upload.upload.id}`;
  resp = await fetch(mediaUrl, { headers: { Authorization: `Bearer ${bobSession.token}` } });
  const whole = Buffer.from(await resp.arrayBuffer());
  steps.download = {
    status: resp.status, same: whole.equals(body),
    type: resp.headers.get("content-type"), nosniff: resp.headers.get("x-content-type-options"),
    disposition: resp.headers.get("content-disposition"),
  };
  resp = await fetch(mediaUrl, {
    headers: { Authorization: `Bearer ${bobSession.token}`, Range: "bytes=1000-1999" } });
  const part = Buffer.from(await resp.arrayBuffer());
  steps.range = {
    status: resp.status, same: part.equals(body.subarray(1000, 2000)),
    content_range: resp.headers.get("content-range"),
  };
  steps.bad_token = await (await fetch(`${url}/api/media`, {
    method: "POST", body: "x", headers: { Authorization: "Bearer not-a-token" } })).json();
  alice.close();
  bob.close();
}

runMain(main);
