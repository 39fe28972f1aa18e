import { describe, expect, it } from "vitest";
import { type LogFormat, prettyLine } from "../src/log.js";
import { capturedLogger } from "./support/logs.js";

const capture = (format: LogFormat = "json") => capturedLogger("info", format);

describe("logger", () => {
  it("scrubs secrets from every string value, raw and JSON-escaped, wherever they stand", () => {
    const { lines, secrets, log } = capture();
    const token = 'se"cr\\et-42';
    secrets.add(token);
    log.info(
      { event: "x", nested: { text: `Bearer ${token}` }, list: [token] },
      `message with ${token}`,
    );
    log.info({ token }, "by key too");
    const all = lines.join("");
    expect(all).not.toContain("cr\\\\et-42");
    expect(all).not.toContain('se\\"cr');
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      msg: "message with <redacted>",
      nested: { text: "Bearer <redacted>" },
      list: ["<redacted>"],
    });
    expect(JSON.parse(lines[1] as string).token).toBe("<redacted>");
  });

  it("a short token never corrupts keys, numbers or the JSON itself", () => {
    const { lines, secrets, log } = capture();
    secrets.add("ta");
    secrets.add("1");
    log.info({ event: "started", status: "ta ta", count: 1 }, "status: ta");
    const entry = JSON.parse(lines[0] as string);
    expect(entry.event).toBe("started");
    expect(entry.status).toBe("<redacted> <redacted>");
    expect(entry.count).toBe(1);
    expect(Object.keys(entry)).toContain("status");
  });

  it("pretty format prints one readable line per entry", () => {
    const line = prettyLine(
      JSON.stringify({
        level: 40,
        time: 0,
        component: "agent",
        event: "agent_exited",
        msg: "m",
        code: 3,
      }),
    );
    expect(line).toBe("00:00:00.000 WARN  [agent agent_exited] m code=3\n");
    const { lines, log } = capture("pretty");
    log.info({ event: "e" }, "hello");
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}\[e\] hello\n$/);
  });
});
