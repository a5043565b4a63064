// Stand-in for the nyxcore app: /api/health answers 200 when the database accepts a TCP connection.
// A file named UNHEALTHY in the repository makes it answer 503 (a release that fails its health check).
const fs = require("fs");
const http = require("http");
const net = require("net");
const url = new URL(process.env.DATABASE_URL || "postgresql://db:5432/x");
const unhealthy = fs.existsSync(__dirname + "/UNHEALTHY");
function dbUp() {
  return new Promise((resolve) => {
    const s = net.connect({ host: url.hostname, port: Number(url.port || 5432) });
    s.setTimeout(2000);
    s.on("connect", () => { s.destroy(); resolve(true); });
    s.on("error", () => resolve(false));
    s.on("timeout", () => { s.destroy(); resolve(false); });
  });
}
http.createServer(async (req, res) => {
  if (req.url === "/api/health") {
    const ok = !unhealthy && (await dbUp());
    res.writeHead(ok ? 200 : 503, { "content-type": "application/json" });
    res.end(JSON.stringify({ ok, node: process.version }));
    return;
  }
  if (req.url.startsWith("/api/admin/")) {
    // Like nyxcore's admin endpoints: the admin secret as a bearer token, or 401. It echoes what it
    // was sent, headers included, so a test can see that the secret never reaches the operator's screen.
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const expected = "Bearer " + (process.env.ADMIN_SECRET || "");
    if (!process.env.ADMIN_SECRET || req.headers["authorization"] !== expected) {
      res.writeHead(401, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: "admin secret required" }));
      return;
    }
    const text = Buffer.concat(chunks).toString();
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ method: req.method, url: req.url, body: text ? JSON.parse(text) : null,
                             headers: req.headers }));
    return;
  }
  res.writeHead(404);
  res.end();
}).listen(3000, "0.0.0.0", () => console.log("nyxcore stand-in listening on 3000"));
