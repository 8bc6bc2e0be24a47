// Session and tokens with the official client: register by login, `session` first,
// wrong password / bad token / bad auth refused with connect_error data, token resume,
// and session:logout revoking the token.
"use strict";

const { Client, connect, refusal, runMain } = require("./lib");

async function main(url, transports, prefix, steps) {
  const name = `${prefix}_ann`;
  const password = "correct horse battery";

  // Register (login of a new name with open registration).
  const first = new Client(url, { username: name, password }, transports);
  const session = await first.ready();
  steps.register = {
    session,
    first_event: first.events[0].event,
    connected: first.socket.connected,
  };

  // Login again with the same password from a second connection.
  const again = await connect(url, { username: name, password }, transports);
  steps.login = { session: again.session, first_event: again.client.events[0].event };
  again.client.close();

  steps.wrong_password = await refusal(url, { username: name, password: "wrong password!" }, transports);
  steps.bad_token = await refusal(url, { token: "not-a-real-token" }, transports);
  steps.no_auth = await refusal(url, {}, transports);
  steps.bad_username = await refusal(url, { username: "no spaces allowed", password }, transports);

  // Token resume.
  const resumed = await connect(url, { token: session.token }, transports);
  steps.resume = { session: resumed.session, first_event: resumed.client.events[0].event };

  // Logout revokes the token of that session.
  steps.logout = await resumed.client.call("session:logout", {});
  resumed.client.close();
  steps.after_logout = await refusal(url, { token: resumed.session.token }, transports);

  first.close();
}

runMain(main);
