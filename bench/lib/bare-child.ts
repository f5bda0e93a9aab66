/**
 * Baseline server: bare Node HTTP answering every POST with one fixed body (set by the parent over IPC),
 * after reading the request body, as the simulator does. Listens on 127.0.0.1 at a random port.
 */
import * as http from "node:http";
import { AddressInfo } from "node:net";

let body = Buffer.from('{"jsonrpc":"2.0","result":"","id":1}');

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    Buffer.concat(chunks).toString("utf8");
    res.writeHead(200, { "Content-Type": "application/json", "Content-Length": body.length });
    res.end(body);
  });
});
server.keepAliveTimeout = 5000;

process.on("message", (m: { type: string; body?: string }) => {
  if (m.type === "body") {
    body = Buffer.from(m.body ?? "");
    process.send!({ ok: true });
  } else if (m.type === "rss") {
    global.gc?.();
    process.send!({ rss: process.memoryUsage().rss });
  }
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));

server.listen(0, "127.0.0.1", () => {
  process.send!({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
});
