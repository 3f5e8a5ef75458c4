/**
 * The chaos program's fault proxy against a local echo server: it forwards, keeps order under
 * latency, drops connections on reset, refuses while in refuse mode and listens again on the same
 * port afterwards, and holds connections silently in blackhole mode.
 */
import assert from "node:assert/strict";
import { startFaultProxy } from "../bench/fault_proxy.ts";

function echoServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  (async () => {
    for await (const c of listener) {
      conns.add(c);
      c.readable.pipeTo(c.writable).catch(() => {}).finally(() => conns.delete(c));
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Reads until `n` bytes arrived, the connection ended (null) or `ms` passed ("timeout"). */
async function readN(conn: Deno.Conn, n: number, ms = 5000): Promise<string | null | "timeout"> {
  let out = "";
  const buf = new Uint8Array(1024);
  const deadline = Date.now() + ms;
  while (out.length < n) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const r = await Promise.race([
      conn.read(buf).catch(() => null),
      new Promise<"timeout">((
        res,
      ) => (timer = setTimeout(() => res("timeout"), deadline - Date.now()))),
    ]);
    clearTimeout(timer);
    if (r === "timeout") return "timeout";
    if (r === null) return out.length ? out : null;
    out += dec.decode(buf.subarray(0, r));
  }
  return out;
}

Deno.test("fault proxy: forwards, keeps order under latency, resets, refuses, blackholes", async () => {
  const echo = echoServer();
  const proxy = await startFaultProxy({ targetPort: echo.port });
  const open: Deno.Conn[] = [];
  const connect = async () => {
    const c = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
    open.push(c);
    return c;
  };
  try {
    const a = await connect();
    await a.write(enc.encode("hello"));
    assert.equal(await readN(a, 5), "hello");
    assert.equal(proxy.upstreamPorts().length, 1);

    proxy.setLatency(100);
    for (const part of ["1", "2", "3", "4"]) await a.write(enc.encode(part));
    assert.equal(await readN(a, 4), "1234", "order kept under latency");
    proxy.setLatency(0);

    assert.equal(proxy.resetAll(), 1);
    assert.equal(await readN(a, 1), null, "the reset connection ended");

    await proxy.setMode("refuse");
    await assert.rejects(connect(), Deno.errors.ConnectionRefused);
    await proxy.setMode("pass");
    const b = await connect();
    await b.write(enc.encode("again"));
    assert.equal(await readN(b, 5), "again", "same port forwards again after refuse");

    await proxy.setMode("blackhole");
    const c = await connect();
    await c.write(enc.encode("lost"));
    assert.equal(await readN(c, 4, 300), "timeout", "nothing comes back from the blackhole");
    await b.write(enc.encode("void"));
    assert.equal(await readN(b, 4, 300), "timeout", "open connections are blackholed too");
    await proxy.setMode("pass");
    assert.equal(await readN(c, 1), null, "leaving the blackhole drops what hung in it");
    assert.ok(proxy.stats.dropped >= 3);
    assert.equal(proxy.stats.blackholed, 1);

    await assert.rejects(startFaultProxy({ targetPort: 1, targetHost: "10.0.0.1" }), /loopback/);
  } finally {
    for (const c of open) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await proxy.close();
    echo.close();
  }
});
