import { STATUS_CODES } from "node:http";
import type * as net from "node:net";
import { Readable } from "node:stream";
import { CallAbort } from "../../internal/call-signal.js";
import type { ConnectionLimits, HeaderTimeouts } from "../connection-guard.js";
import { CLIENT_LEFT, type HttpExchange, type ResponseHeaders } from "../http/exchange.js";

/**
 * The proxy's own HTTP/1.1 for the requests almost every client sends: a head of plain
 * ASCII with each header once, a body of known length (small enough to hold), an
 * answer that is one response with a length or a chunked stream. Node's HTTP/1.1 server
 * spends about as much CPU per request as the rest of a JSON call through the proxy;
 * this path reads the head with a few string searches and writes each answer in one
 * socket write.
 *
 * Everything else goes to Node's server, which then keeps the connection: at a request
 * boundary (no answer in progress) the unread bytes are put back on the socket and the
 * socket is handed over, so Node parses that request from its first byte and answers
 * it, its errors (400, 431) included, exactly as it would have. That is every request
 * that is not one of GET, POST, PUT, PATCH, DELETE and OPTIONS over HTTP/1.1 with an
 * origin-form target and a Host header; every head with a byte outside printable ASCII,
 * a header given twice, a folded line, or `transfer-encoding`, `expect` or `upgrade`; a
 * body over {@link LEAN_BODY_LIMIT}; a head near the size limit.
 */
export interface LeanHttp1Options {
  readonly limits: ConnectionLimits;
  /** The header timeout the port applies to every HTTP/1.1 connection. */
  readonly headerTimeouts: HeaderTimeouts;
  /** Whether the port is closing: answers say `connection: close` and the connection ends after them. */
  closing(): boolean;
  /** A request to serve. */
  onExchange(exchange: HttpExchange): void;
  /** Takes over a connection this path does not serve, with its unread bytes put back. */
  handOff(socket: net.Socket): void;
  /** The connection is closed or handed over. */
  onGone(connection: LeanHttp1Connection): void;
}

/** Request bodies up to this size are read whole before the request is served; larger ones go to Node's server. */
export const LEAN_BODY_LIMIT = 64 * 1024;

const METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
/** Headers whose semantics this path leaves to Node's server. */
const HANDED_OVER = new Set(["transfer-encoding", "expect", "upgrade", "http2-settings"]);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What a response header value may not hold (Node's own check): control characters other than tab. */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** A header value character outside ASCII (obs-text, allowed in values): the head then goes out as latin1. */
const NON_ASCII = /[\x80-\xff]/;
const CRLF = "\r\n";
const LAST_CHUNK = "0\r\n\r\n";

/** The `date` header, made once a second. */
let dateSecond = 0;
let dateLine = "";
function dateHeader(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateLine = `date: ${new Date(now).toUTCString()}\r\n`;
  }
  return dateLine;
}

/** One HTTP/1.1 connection served by the proxy's own HTTP/1.1, until it closes or is handed over. */
export class LeanHttp1Connection {
  /** Bytes read and not yet parsed. */
  private input: Buffer = Buffer.alloc(0);
  /** The request being answered. */
  private current: LeanExchange | undefined;
  private gone = false;
  /** Our side of the socket was ended: nothing more is read or answered. */
  private ending = false;
  private closeRequested = false;
  private readonly keepAlive: NodeJS.Timeout;
  private keepAliveArmed = false;
  /** Runs while the body of a request whose head is in is still arriving. */
  private bodyTimer: NodeJS.Timeout | undefined;
  private bodyWaiting = false;
  private readonly onReadable = () => this.pump();
  private readonly onClose = () => this.closed();
  private readonly onTimeout = () => this.socket.destroy();

  constructor(
    readonly socket: net.Socket,
    private readonly options: LeanHttp1Options,
  ) {
    this.keepAlive = setTimeout(expireKeepAlive, Math.min(5000, options.limits.idleTimeoutMs), this);
    this.keepAlive.unref();
    socket.setTimeout(options.limits.idleTimeoutMs);
    socket.on("timeout", this.onTimeout);
    socket.on("readable", this.onReadable);
    socket.once("close", this.onClose);
    options.headerTimeouts.arm(socket);
  }

  /** Serves what has arrived (the sniffed bytes are back on the socket) and what follows. */
  start(): void {
    this.pump();
  }

  /** No new requests: ends the connection now if it is idle, else after the answer in progress. */
  close(): void {
    this.closeRequested = true;
    if (this.current === undefined) this.end();
  }

  private end(): void {
    if (this.gone || this.ending) return;
    this.ending = true;
    this.socket.end();
  }

  /** A held body did not arrive in time. */
  bodyExpired(): void {
    if (this.bodyWaiting && this.current === undefined) this.socket.destroy();
  }

  /** The keep-alive wait after an answer ran out with no new request begun. */
  keepAliveExpired(): void {
    if (this.keepAliveArmed && this.current === undefined && this.input.length === 0) this.socket.destroy();
  }

  /** Reads what the socket has and serves the next request, when none is in progress. */
  private pump(): void {
    if (this.current !== undefined || this.gone || this.ending) return;
    let chunk: Buffer | null;
    while ((chunk = this.socket.read() as Buffer | null) !== null) {
      this.input = this.input.length === 0 ? chunk : Buffer.concat([this.input, chunk]);
    }
    if (this.input.length > 0) this.keepAliveArmed = false;
    this.parse();
  }

  private parse(): void {
    const input = this.input;
    if (input.length === 0) return;
    const limit = this.options.limits.maxHeaderSize;
    const headEnd = input.indexOf(CRLF + CRLF, 0, "latin1");
    if (headEnd < 0) {
      // Node's server answers a head over the limit (431); one that is still coming waits.
      if (input.length >= limit - 64) this.handOff();
      return;
    }
    if (headEnd + 4 >= limit - 64) {
      this.handOff();
      return;
    }
    const head = parseHead(input.toString("latin1", 0, headEnd));
    if (head === undefined) {
      this.handOff();
      return;
    }
    // The head is complete: the header timeout is over (the idle timeout still runs).
    this.options.headerTimeouts.clear(this.socket);
    const bodyEnd = headEnd + 4 + head.contentLength;
    if (input.length < bodyEnd) {
      // The rest of the body is on its way; it must be in within the idle timeout (at most
      // five minutes, Node's request timeout), however slowly it drips.
      if (!this.bodyWaiting) {
        this.bodyWaiting = true;
        if (this.bodyTimer === undefined) {
          this.bodyTimer = setTimeout(expireBody, Math.min(this.options.limits.idleTimeoutMs, 300_000), this);
          this.bodyTimer.unref();
        } else this.bodyTimer.refresh();
      }
      return;
    }
    this.bodyWaiting = false;
    const body = input.subarray(headEnd + 4, bodyEnd);
    this.input = bodyEnd === input.length ? Buffer.alloc(0) : input.subarray(bodyEnd);
    const closeAfter = head.close || this.closeRequested || this.options.closing();
    const exchange = new LeanExchange(this, head, body, closeAfter);
    this.current = exchange;
    try {
      this.options.onExchange(exchange);
    } catch {
      this.socket.destroy();
    }
  }

  /** Writes a response's bytes. */
  send(bytes: string | Buffer, encoding: BufferEncoding): boolean {
    if (this.gone || this.socket.destroyed) return true;
    return typeof bytes === "string" ? this.socket.write(bytes, encoding) : this.socket.write(bytes);
  }

  /** The answer of `exchange` is complete: the next request may be served. */
  finished(exchange: LeanExchange): void {
    if (this.current !== exchange) return;
    this.current = undefined;
    if (this.gone) return;
    if (exchange.closeAfter || this.closeRequested) {
      this.end();
      return;
    }
    this.options.headerTimeouts.arm(this.socket);
    this.keepAliveArmed = true;
    this.keepAlive.refresh();
    // A pipelined request may be waiting; it is served after this call's stack unwinds.
    process.nextTick(pumpConnection, this);
  }

  resume(): void {
    this.pump();
  }

  /** Whether answers started now must close the connection. */
  closingNow(): boolean {
    return this.closeRequested || this.options.closing();
  }

  /** Gives the connection to Node's server at this request boundary, with the unread bytes put back. */
  private handOff(): void {
    this.detach();
    const socket = this.socket;
    if (this.input.length > 0) socket.unshift(this.input);
    this.input = Buffer.alloc(0);
    this.options.handOff(socket);
  }

  private detach(): void {
    if (this.gone) return;
    this.gone = true;
    clearTimeout(this.keepAlive);
    clearTimeout(this.bodyTimer);
    this.socket.off("readable", this.onReadable);
    this.socket.off("close", this.onClose);
    this.socket.off("timeout", this.onTimeout);
    this.socket.setTimeout(0);
    this.options.onGone(this);
  }

  private closed(): void {
    const exchange = this.current;
    this.detach();
    this.current = undefined;
    exchange?.lost();
  }
}

function expireKeepAlive(connection: LeanHttp1Connection): void {
  connection.keepAliveExpired();
}

function expireBody(connection: LeanHttp1Connection): void {
  connection.bodyExpired();
}

function pumpConnection(connection: LeanHttp1Connection): void {
  connection.resume();
}

/** A request head this path serves. */
interface Head {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly contentLength: number;
  /** The client asked for `connection: close`. */
  readonly close: boolean;
}

/** Parses a request head (without its final blank line); undefined when Node's server should take it. */
export function parseHead(text: string): Head | undefined {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // Printable ASCII, tab, and CR LF only as line ends (checked by the split below).
    if (c > 0x7e || (c < 0x20 && c !== 9 && c !== 13 && c !== 10)) return undefined;
  }
  const lines = text.split(CRLF);
  const requestLine = lines[0] as string;
  const sp1 = requestLine.indexOf(" ");
  const sp2 = requestLine.indexOf(" ", sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || requestLine.indexOf(" ", sp2 + 1) >= 0) return undefined;
  const method = requestLine.slice(0, sp1);
  const url = requestLine.slice(sp1 + 1, sp2);
  if (!METHODS.has(method) || url.charCodeAt(0) !== 47 /* / */ || requestLine.slice(sp2 + 1) !== "HTTP/1.1") return undefined;
  const headers: Record<string, string> = {};
  let contentLength = 0;
  let close = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(":");
    if (colon <= 0 || line.indexOf("\r") >= 0 || line.indexOf("\n") >= 0) return undefined;
    const rawName = line.slice(0, colon);
    if (!TOKEN.test(rawName)) return undefined;
    const name = rawName.toLowerCase();
    if (headers[name] !== undefined || HANDED_OVER.has(name)) return undefined;
    const value = trimOws(line.slice(colon + 1));
    if (name === "content-length") {
      if (!/^\d{1,9}$/.test(value)) return undefined;
      contentLength = Number(value);
      if (contentLength > LEAN_BODY_LIMIT) return undefined;
    } else if (name === "connection") {
      const tokens = value
        .toLowerCase()
        .split(",")
        .map((t) => t.trim());
      if (tokens.includes("upgrade")) return undefined;
      close = tokens.includes("close");
    }
    headers[name] = value;
  }
  if (headers.host === undefined) return undefined;
  return { method, url, headers, contentLength, close };
}

/** Strips spaces and tabs at both ends (a header value's optional whitespace). */
function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value.charCodeAt(start) === 32 || value.charCodeAt(start) === 9)) start++;
  while (end > start && (value.charCodeAt(end - 1) === 32 || value.charCodeAt(end - 1) === 9)) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

/** One request on a lean connection and its answer. */
class LeanExchange implements HttpExchange {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly httpVersion = "1.1" as const;
  readonly signal = new CallAbort();
  headersSent = false;
  /** The response head, written with the first body bytes. */
  private head: string | undefined;
  /** The head holds a character outside ASCII (obs-text): it goes out as latin1 on its own. */
  private headIsLatin1 = false;
  private chunked = false;
  private done = false;
  private stream: Readable | undefined;
  private drainWaiters: (() => void)[] | undefined;

  constructor(
    private readonly connection: LeanHttp1Connection,
    head: Head,
    /** The whole request body. */
    readonly bodyBytes: Buffer,
    public closeAfter: boolean,
  ) {
    this.method = head.method;
    this.url = head.url;
    this.headers = head.headers;
  }

  /** The request body as a stream, for the handlers that read it as one. */
  get body(): Readable {
    if (this.stream === undefined) {
      const stream = new Readable({ read() {} });
      if (this.bodyBytes.length > 0) stream.push(this.bodyBytes);
      stream.push(null);
      this.stream = stream;
    }
    return this.stream;
  }

  respond(status: number, headers: ResponseHeaders): void {
    if (this.headersSent) throw new Error("the response head was already sent");
    let text = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Unknown"}\r\n`;
    let length = false;
    for (const name in headers) {
      const value = headers[name] as string | number | readonly string[];
      if (!TOKEN.test(name)) throw new Error(`invalid response header name "${name}"`);
      const lower = name.toLowerCase();
      if (lower === "content-length") length = true;
      else if (lower === "connection" && String(value).toLowerCase() === "close") this.closeAfter = true;
      else if (lower === "connection" || lower === "transfer-encoding" || lower === "keep-alive") continue;
      if (typeof value === "object") for (const v of value) text += this.headerLine(name, v);
      else text += this.headerLine(name, String(value));
    }
    this.closeAfter ||= this.connection.closingNow();
    text += dateHeader();
    text += this.closeAfter ? "connection: close\r\n" : "connection: keep-alive\r\n";
    const bodiless = status === 204 || status === 304 || (status >= 100 && status < 200);
    if (!length && !bodiless) {
      this.chunked = true;
      text += "transfer-encoding: chunked\r\n";
    }
    text += CRLF;
    this.head = text;
    this.headersSent = true;
  }

  /** One response header line; a value outside ASCII makes the head go out as latin1. */
  private headerLine(name: string, value: string): string {
    if (INVALID_VALUE.test(value)) throw new Error(`invalid value for response header "${name}"`);
    if (NON_ASCII.test(value)) this.headIsLatin1 = true;
    return `${name}: ${value}\r\n`;
  }

  write(chunk: Buffer | string): Promise<void> {
    if (this.done) return Promise.resolve();
    if (!this.headersSent) this.respond(200, {});
    const length = byteLength(chunk);
    if (length === 0) {
      this.flushHead();
      return Promise.resolve();
    }
    const ok = this.chunked ? this.sendFramed(chunk, length, false) : this.sendBody(chunk);
    if (ok) return Promise.resolve();
    return new Promise((resolve) => {
      (this.drainWaiters ??= []).push(resolve);
      if (this.drainWaiters.length === 1) this.connection.socket.once("drain", () => this.drained());
    });
  }

  end(chunk?: Buffer | string): void {
    if (this.done) return;
    const length = byteLength(chunk);
    if (!this.headersSent) this.respond(200, { "content-length": length });
    if (this.chunked) {
      if (length > 0) this.sendFramed(chunk as Buffer | string, length, true);
      else this.sendBody(LAST_CHUNK);
    } else if (chunk !== undefined) this.sendBody(chunk);
    else this.flushHead();
    this.done = true;
    this.drained();
    this.connection.finished(this);
  }

  endAndDiscard(chunk?: Buffer | string): void {
    // The body was read whole before the request was served: nothing is left to discard.
    this.end(chunk);
  }

  /** The connection closed: an answer not yet complete is abandoned. */
  lost(): void {
    this.drained();
    if (!this.done) this.signal.abort(CLIENT_LEFT);
  }

  private drained(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = undefined;
    if (waiters !== undefined) for (const resolve of waiters) resolve();
  }

  /** Writes the head if it has not gone out yet. */
  private flushHead(): void {
    const head = this.head;
    if (head === undefined) return;
    this.head = undefined;
    this.connection.send(head, "latin1");
  }

  /** Writes body bytes, with the head in front of them the first time (one socket write). */
  private sendBody(chunk: Buffer | string): boolean {
    const head = this.head;
    if (head === undefined) return this.connection.send(chunk, "utf8");
    this.head = undefined;
    if (typeof chunk === "string" && !this.headIsLatin1) return this.connection.send(head + chunk, "utf8");
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    return this.connection.send(Buffer.concat([Buffer.from(head, "latin1"), bytes]), "latin1");
  }

  /** Writes one chunk of a chunked body (and the last chunk after it when `last`). */
  private sendFramed(chunk: Buffer | string, length: number, last: boolean): boolean {
    const tail = last ? `\r\n${LAST_CHUNK}` : CRLF;
    if (typeof chunk === "string") return this.sendBody(`${length.toString(16)}\r\n${chunk}${tail}`);
    return this.sendBody(Buffer.concat([Buffer.from(`${length.toString(16)}\r\n`, "latin1"), chunk, Buffer.from(tail, "latin1")]));
  }
}

function byteLength(chunk: Buffer | string | undefined): number {
  if (chunk === undefined) return 0;
  return typeof chunk === "string" ? Buffer.byteLength(chunk, "utf8") : chunk.length;
}
