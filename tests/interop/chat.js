// Rooms, messages, images, history, receipts, typing, DMs and presence, driven by the
// official socket.io-client. Three users: alice (sender), bob (second client in the
// room), carol (DM partner). Every step records what the server answered or emitted;
// pytest asserts on it.
"use strict";

const fs = require("fs");
const { connect, runMain, sha256 } = require("./lib");

async function main(url, transports, prefix, steps, imagePath) {
  const password = "interop password";
  const image = fs.readFileSync(imagePath);
  const room = `${prefix}-room`;

  const { client: alice, session: aliceSession } = await connect(
    url, { username: `${prefix}_alice`, password }, transports);
  const aliceName = aliceSession.user.name;
  const { client: bob, session: bobSession } = await connect(
    url, { username: `${prefix}_bob`, password }, transports);
  const bobName = bobSession.user.name;
  steps.presence_online = await alice.waitFor(
    "presence", (p) => p.user === bobName && p.state === "online");

  steps.rooms_list = await alice.call("rooms:list", {});

  steps.room_create = await alice.call("room:create", { name: room, topic: "interop" });
  steps.room_create_conflict = await bob.call("room:create", { name: room });
  steps.room_create_bad = await alice.call("room:create", { name: "Not A Slug!" });

  const beforeJoin = alice.events.length;
  steps.room_join = await bob.call("room:join", { room });
  steps.presence_joined = await alice.waitFor(
    "presence", (p) => p.room === room && p.user === bobName && p.state === "joined", beforeJoin);
  steps.join_system_message = await alice.waitFor(
    "message", (m) => m.room === room && m.kind === "system", beforeJoin);

  // A text message acked through emitWithAck, broadcast to the second JS client.
  const cid1 = `${prefix}-cid-1`;
  steps.send = await alice.call("message:send", { room, client_id: cid1, text: "hello from js" });
  steps.broadcast = await bob.waitFor("message", (m) => m.client_id === cid1);

  // The same client_id again, through a classic ack callback: same message, no new broadcast.
  steps.resend = await alice.callWithCallback(
    "message:send", { room, client_id: cid1, text: "hello from js" });
  const cid2 = `${prefix}-cid-2`;
  steps.send2 = await alice.call("message:send", { room, client_id: cid2, text: "second" });
  // Broadcasts of one sender arrive in order on one connection, so once cid2 is here a
  // duplicate of cid1 would already have arrived too.
  await bob.waitFor("message", (m) => m.client_id === cid2);
  steps.bob_copies_of_cid1 = bob.count("message", (m) => m.client_id === cid1);

  // An image as a Node Buffer (binary attachment), then media:get returns the same bytes.
  const cid3 = `${prefix}-cid-3`;
  steps.image_send = await alice.call("message:send", {
    room, client_id: cid3, text: "a caption", image: { data: image, name: "dot.png" },
  });
  steps.image_broadcast = await bob.waitFor("message", (m) => m.client_id === cid3);
  const imageId = steps.image_send.ok ? steps.image_send.message.image.id : null;
  steps.media_get = await bob.call("media:get", { id: imageId });
  steps.media_get_sha_matches = Buffer.isBuffer(steps.media_get.data)
    && sha256(steps.media_get.data) === sha256(image);
  steps.media_get_missing = await bob.call("media:get", { id: "no-such-image" });
  steps.image_sha256 = sha256(image);

  // History: newest page, then before/after paging.
  steps.history_newest = await bob.call("message:history", { room, limit: 2 });
  const oldestShown = steps.history_newest.messages[0].id;
  steps.history_before = await bob.call("message:history", { room, before: oldestShown, limit: 100 });
  steps.history_after = await bob.call(
    "message:history", { room, after: steps.send.message.id, limit: 1 });

  // Cumulative receipts: bob's positions move, alice's connection gets message:status.
  const lastId = steps.image_send.message.id;
  let mark = alice.events.length;
  steps.receipt_delivered = await bob.call("message:receipt", { room, id: lastId, state: "delivered" });
  steps.status_delivered = await alice.waitFor(
    "message:status", (s) => s.room === room && s.state === "delivered", mark);
  mark = alice.events.length;
  steps.receipt_read = await bob.call("message:receipt", { room, id: lastId, state: "read" });
  steps.status_read = await alice.waitFor(
    "message:status", (s) => s.room === room && s.state === "read", mark);
  steps.history_as_sender = await alice.call("message:history", { room });

  // Typing: relayed to others, no ack needed; if one is asked for it is {ok: true}.
  mark = alice.events.length;
  bob.socket.emit("typing", { room, typing: true });
  steps.typing_relay = await alice.waitFor("typing", (t) => t.room === room && t.typing === true, mark);
  steps.typing_ack = await bob.call("typing", { room, typing: false });
  steps.typing_stop_relay = await alice.waitFor(
    "typing", (t) => t.room === room && t.typing === false, mark);
  steps.typing_echoed_to_typer = bob.count("typing", (t) => t.room === room);

  // DM: dm:open creates the room; the other user's connections get room:added.
  const { client: carol, session: carolSession } = await connect(
    url, { username: `${prefix}_carol`, password }, transports);
  const carolName = carolSession.user.name;
  steps.dm_open = await alice.call("dm:open", { user: carolName });
  steps.room_added = await carol.waitFor("room:added");
  steps.dm_self = await alice.call("dm:open", { user: aliceName });
  const dmId = steps.dm_open.ok ? steps.dm_open.room.id : null;
  steps.dm_send = await alice.call("message:send", { room: dmId, client_id: `${prefix}-dm-1`, text: "psst" });
  steps.dm_received = await carol.waitFor("message", (m) => m.room === dmId && m.kind === "text");
  steps.dm_forbidden_for_bob = await bob.call("message:history", { room: dmId });
  steps.rooms_list_after = await alice.call("rooms:list", {});

  // Presence: bob's last connection goes, alice hears "offline" once.
  mark = alice.events.length;
  bob.close();
  steps.presence_offline = await alice.waitFor(
    "presence", (p) => p.user === bobName && p.state === "offline", mark);

  steps.names = { alice: aliceName, bob: bobName, carol: carolName, room, dm: dmId };
  alice.close();
  carol.close();
}

runMain(main);
