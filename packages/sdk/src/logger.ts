/**
 * Where the SDK reports what it cannot hand back to the proxy: crashed handlers, errors the proxy
 * reports, protocol violations.
 *
 * Pass your own to `createServer({ logger })` to route these lines into your logging; the default
 * writes one line per message to stderr.
 *
 * @example
 * ```ts
 * const logger: Logger = {
 *   info: (msg) => pino.info(msg),
 *   warn: (msg) => pino.warn(msg),
 *   error: (msg, err) => pino.error({ err }, msg),
 * };
 * createServer({ entities, logger });
 * ```
 */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  /** `error` is the thrown value, if there is one; the default logger prints its stack. */
  error(message: string, error?: unknown): void;
}

/**
 * The default {@link Logger}: one line per message on stderr, prefixed with `switchboard-sdk`,
 * followed by the stack of the error if one is given.
 *
 * @example
 * ```ts
 * const logger = createStderrLogger();
 * logger.warn("proxy speaks protocol 0.1");
 * ```
 */
export function createStderrLogger(): Logger {
  const write = (level: string, message: string, error?: unknown): void => {
    let line = `switchboard-sdk ${level}: ${message}\n`;
    if (error !== undefined) {
      line += `${error instanceof Error ? (error.stack ?? String(error)) : String(error)}\n`;
    }
    process.stderr.write(line);
  };
  return {
    info: (message) => write("info", message),
    warn: (message) => write("warn", message),
    error: (message, error) => write("error", message, error),
  };
}

/**
 * A logger that drops everything; handy in tests.
 *
 * @example
 * ```ts
 * createServer({ entities, logger: silentLogger });
 * ```
 */
export const silentLogger: Logger = {
  info: () => {},
  warn: () => {},
  error: () => {},
};
