/**
 * The Restate peer of the value-entity benchmark: a keyed counter virtual object
 * (`Counter/<key>/add`, body: the JSON number to add), durable in Restate's own
 * store, served by the Restate TypeScript SDK on 127.0.0.1:$PORT. Plain JS so it
 * runs from this folder's own node_modules, in its own process.
 */
// The SDK calls Promise.withResolvers, which Node 20 lacks (it arrived in Node 22).
if (typeof Promise.withResolvers !== "function") {
  Object.defineProperty(Promise, "withResolvers", {
    configurable: true,
    writable: true,
    value: function withResolvers() {
      let resolve;
      let reject;
      const promise = new this((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}

const restate = await import("@restatedev/restate-sdk");

const counter = restate.object({
  name: "Counter",
  handlers: {
    /** Adds the request's number to this key's count and returns the new count. */
    add: async (ctx, delta) => {
      const next = ((await ctx.get("count")) ?? 0) + (typeof delta === "number" ? delta : 1);
      ctx.set("count", next);
      return next;
    },
    get: restate.handlers.object.shared(async (ctx) => (await ctx.get("count")) ?? 0),
  },
});

const port = Number(process.env.PORT ?? 9080);
const host = process.env.HOST ?? "127.0.0.1";
const http2 = await import("node:http2");
const server = http2.createServer(restate.endpoint().bind(counter).http2Handler());
server.listen(port, host, () => {
  process.stdout.write(`restate counter ready on ${host}:${server.address().port}\n`);
});
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
