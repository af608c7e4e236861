// tests/bench/nats_bench.js — the NATS JetStream side of tests/bench/compare.sh: publishes COUNT
// messages of SIZE octets to a file-storage stream and waits for each PubAck, either pipelined
// (one connection, WINDOW publishes in flight) or from CLIENTS connections with one in flight
// each. Prints "rate=... p50_ms=... p99_ms=..." like the other peers. Bounded by --time-limit.
//
//   NODE_PATH=DIR/node_modules node nats_bench.js --port P --count N --size 512 --window 1000
//   node nats_bench.js --port P --count N --clients 50
// The client is the npm package "nats" (nats.js 2.x), installed by compare.sh.
"use strict";
const { connect } = require("nats");

function args() {
  const a = { port: 4222, count: 100000, size: 512, window: 1000, clients: 1, timeLimit: 120 };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i += 2) {
    const key = v[i].replace(/^--/, "").replace(/-(.)/g, (_, c) => c.toUpperCase());
    if (!(key in a)) throw new Error("unknown option " + v[i]);
    a[key] = Number(v[i + 1]);
  }
  return a;
}

async function stream(port) {
  const nc = await connect({ servers: "127.0.0.1:" + port });
  const jsm = await nc.jetstreamManager();
  try {
    await jsm.streams.delete("BENCH");
  } catch (e) {
    // no stream yet
  }
  await jsm.streams.add({ name: "BENCH", subjects: ["bench.>"], storage: "file" });
  await nc.close();
}

// one connection publishing `count` with up to `window` in flight; latencies pushed into lat
async function publisher(a, count, window, lat, deadline) {
  const nc = await connect({ servers: "127.0.0.1:" + a.port });
  const js = nc.jetstream();
  const body = new Uint8Array(a.size).fill(97);
  let sent = 0;
  const inflight = new Set();
  while (sent < count && Date.now() < deadline) {
    const t0 = process.hrtime.bigint();
    const p = js.publish("bench.x", body).then(() => {
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
      inflight.delete(p);
    });
    inflight.add(p);
    sent++;
    if (inflight.size >= window) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  await nc.close();
}

async function main() {
  const a = args();
  await stream(a.port);
  const lat = [];
  const deadline = Date.now() + a.timeLimit * 1000;
  const start = process.hrtime.bigint();
  const jobs = [];
  for (let i = 0; i < a.clients; i++) {
    const share = Math.floor(a.count / a.clients) + (i < a.count % a.clients ? 1 : 0);
    jobs.push(publisher(a, share, a.clients > 1 ? 1 : a.window, lat, deadline));
  }
  await Promise.all(jobs);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  lat.sort((x, y) => x - y);
  const pct = (p) => (lat.length ? lat[Math.round(p * (lat.length - 1))] : 0);
  console.log(`rate=${(lat.length / seconds).toFixed(0)} p50_ms=${pct(0.5).toFixed(2)} ` +
    `p99_ms=${pct(0.99).toFixed(2)} acked=${lat.length}`);
}

main().catch((e) => {
  console.error("nats_bench: " + e);
  process.exit(1);
});
