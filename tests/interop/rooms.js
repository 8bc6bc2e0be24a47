// Room management with the official socket.io-client: private rooms and invites,
// members, topics (room:updated), leaving (presence "left"), closing (room:closed),
// browsing public rooms, and the message rate limit (rate_limited, still connected).
"use strict";

const { connect, runMain } = require("./lib");

async function main(url, transports, prefix, steps) {
  const password = "interop password";
  const priv = `${prefix}-priv`;
  const pub = `${prefix}-pub`;
  const { client: alice, session: a } = await connect(
    url, { username: `${prefix}_alice`, password }, transports);
  const { client: bob, session: b } = await connect(
    url, { username: `${prefix}_bob`, password }, transports);
  const { client: carol, session: c } = await connect(
    url, { username: `${prefix}_carol`, password }, transports);
  steps.names = { alice: a.user.name, bob: b.user.name, carol: c.user.name, priv, pub };

  // Private room: not joinable, members by invite only.
  steps.create_private = await alice.call("room:create", { name: priv, topic: "secret", private: true });
  steps.join_private_uninvited = await bob.call("room:join", { room: priv });
  let mark = bob.events.length;
  steps.invite = await alice.call("room:invite", { room: priv, user: b.user.name });
  steps.room_added = await bob.waitFor("room:added", (p) => p.room.id === priv, mark);
  steps.members = await bob.call("room:members", { room: priv });
  steps.members_outsider = await carol.call("room:members", { room: priv });
  steps.history_outsider = await carol.call("message:history", { room: priv });
  steps.carol_rooms = await carol.call("rooms:list", {});

  // Topic: any member; members get room:updated.
  mark = bob.events.length;
  steps.topic = await alice.call("room:topic", { room: priv, topic: "a new topic" });
  steps.room_updated = await bob.waitFor(
    "room:updated", (p) => p.room.id === priv && p.room.topic === "a new topic", mark);
  steps.topic_too_long = await alice.call("room:topic", { room: priv, topic: "t".repeat(201) });

  // Leaving: the others see presence "left"; the leaver is no longer a member.
  mark = alice.events.length;
  steps.leave = await bob.call("room:leave", { room: priv });
  steps.presence_left = await alice.waitFor(
    "presence", (p) => p.room === priv && p.user === b.user.name && p.state === "left", mark);
  steps.members_after_leave = await bob.call("room:members", { room: priv });

  // Public room: listed (joined: false) for others; closing it tells every member.
  steps.create_public = await alice.call("room:create", { name: pub });
  steps.carol_browse = await carol.call("rooms:list", {});
  steps.carol_join = await carol.call("room:join", { room: pub });
  steps.close_not_owner = await carol.call("room:close", { room: pub });
  steps.close_general = await alice.call("room:close", { room: "general" });
  mark = carol.events.length;
  steps.close = await alice.call("room:close", { room: pub });
  steps.room_closed = await carol.waitFor("room:closed", (p) => p.room === pub, mark);
  steps.carol_rooms_after_close = await carol.call("rooms:list", {});
  steps.send_to_closed = await carol.call(
    "message:send", { room: pub, client_id: `${prefix}-closed`, text: "anyone?" });

  // Rate limit: the default is 20 messages in 10 s per user; then rate_limited acks and
  // the connection stays open.
  const acks = [];
  for (let i = 0; i < 25; i += 1) {
    acks.push(await carol.call(
      "message:send", { room: "general", client_id: `${prefix}-burst-${i}`, text: `burst ${i}` }));
  }
  steps.burst_codes = acks.map((ack) => (ack.ok ? "ok" : ack.error.code));
  steps.connected_after_burst = carol.socket.connected;
  steps.rooms_after_burst = await carol.call("rooms:list", {});

  alice.close();
  bob.close();
  carol.close();
}

runMain(main);
