// Protocol v2 through the official socket.io-client: replies, mentions, message:edit,
// message:delete, reaction:set, message:updated and message:changes catch-up. Two users:
// alice and bob in a fresh room. Every step records what the server answered or emitted;
// pytest asserts on it (test_interop_v2.py).
"use strict";

const { connect, runMain } = require("./lib");

async function main(url, transports, prefix, steps) {
  const password = "interop password";
  const room = `${prefix}-v2`;
  const { client: alice, session: aliceSession } = await connect(
    url, { username: `${prefix}_alice`, password }, transports);
  const { client: bob, session: bobSession } = await connect(
    url, { username: `${prefix}_bob`, password }, transports);
  const bobName = bobSession.user.name;
  steps.session_server = aliceSession.server;

  await alice.call("room:create", { name: room });
  await bob.call("room:join", { room });
  const startSeq = (await bob.call("message:changes", { room, since: 0 })).seq;
  steps.start_seq = startSeq;

  // a message that mentions bob, and bob's reply to it
  steps.send = await alice.call("message:send", {
    room, client_id: `${prefix}-1`, text: `hello @${bobName}` });
  const parentId = steps.send.message.id;
  steps.reply = await bob.call("message:send", {
    room, client_id: `${prefix}-2`, text: "hi!", reply_to: parentId });
  steps.reply_broadcast = await alice.waitFor("message", (m) => m.client_id === `${prefix}-2`);

  // alice edits; bob sees message:updated; the same text again is a no-op
  let mark = bob.events.length;
  steps.edit = await alice.call("message:edit", { room, id: parentId, text: "hello everyone" });
  steps.edit_update = await bob.waitFor(
    "message:updated", (u) => u.message.id === parentId, mark);
  steps.edit_again = await alice.callWithCallback(
    "message:edit", { room, id: parentId, text: "hello everyone" });
  steps.edit_forbidden = await bob.call("message:edit", { room, id: parentId, text: "mine now" });

  // reactions, and a refused emoji
  mark = alice.events.length;
  steps.react = await bob.call("reaction:set", { room, id: parentId, emoji: "👍", on: true });
  steps.react_update = await alice.waitFor(
    "message:updated", (u) => u.message.id === parentId && u.message.reactions.length, mark);
  steps.react_alice = await alice.call("reaction:set", { room, id: parentId, emoji: "👍", on: true });
  steps.react_bad = await bob.call("reaction:set", { room, id: parentId, emoji: "a b", on: true });

  // bob goes away; alice deletes and edits; bob catches up with message:changes
  const held = (await bob.call("message:changes", { room, since: 0 })).seq;
  bob.close();
  steps.other = await alice.call("message:send", { room, client_id: `${prefix}-3`, text: "bye" });
  steps.delete = await alice.call("message:delete", { room, id: steps.other.message.id });
  steps.delete_again = await alice.call("message:delete", { room, id: steps.other.message.id });
  await alice.call("message:edit", { room, id: parentId, text: "hello again" });
  const { client: bob2 } = await connect(
    url, { token: bobSession.token }, transports);
  const pages = [];
  let since = held;
  for (;;) {
    const page = await bob2.call("message:changes", { room, since, limit: 1 });
    pages.push(page);
    if (!page.ok || !page.has_more) break;
    since = page.messages[page.messages.length - 1].seq;
  }
  steps.held_seq = held;
  steps.catchup_pages = pages;
  steps.changes_bad = await bob2.call("message:changes", { room, since: -1 });
  steps.rooms_list = await bob2.call("rooms:list", {});
  alice.close();
  bob2.close();
  steps.names = { room, bob: bobName };
}

runMain(main);
