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
  res.writeHead(404);
  res.end();
}).listen(3000, "0.0.0.0", () => console.log("nyxcore stand-in listening on 3000"));
