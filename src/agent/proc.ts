import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** What identifies a process beyond its (reusable) pid: its start time and executable. */
export interface ProcessIdentity {
  readonly pid: number;
  /** Field 22 of /proc/PID/stat: start time in clock ticks after boot. */
  readonly startTime: string;
  readonly exe: string;
}

interface Stat {
  readonly state: string;
  readonly ppid: number;
  readonly pgid: number;
  readonly startTime: string;
}

/** Parses /proc/PID/stat; the command name (field 2) may hold spaces and parentheses. */
function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); field N is fields[N - 3].
  return {
    state: fields[0] ?? "",
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    startTime: fields[19] ?? "",
  };
}

function readExe(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, "");
  } catch {
    return undefined;
  }
}

/** A process's start time (field 22 of /proc/PID/stat), or undefined when it is gone. */
export function startTimeOf(pid: number): string | undefined {
  return readStat(pid)?.startTime;
}

export function identify(pid: number): ProcessIdentity | undefined {
  const stat = readStat(pid);
  const exe = readExe(pid);
  if (stat === undefined || exe === undefined) return undefined;
  return { pid, startTime: stat.startTime, exe };
}

/** Whether pid is still the very process identified earlier (pids are reused). */
export function sameProcess(identity: ProcessIdentity): boolean {
  const now = identify(identity.pid);
  return now !== undefined && now.startTime === identity.startTime && now.exe === identity.exe;
}

/** Every pid /proc lists now. */
export function allPids(): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/**
 * A process's children, or undefined where the kernel does not list them. The kernel lists a
 * child under the thread that forked it (/proc/PID/task/TID/children), and a Go program such as
 * the agent forks from whichever thread runs os/exec: every thread is read.
 */
export function childrenOf(pid: number): number[] | undefined {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  const children: number[] = [];
  let listed = false;
  for (const task of tasks) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8");
      listed = true;
      for (const child of text.split(" ")) if (child) children.push(Number(child));
    } catch {
      // The thread ended meanwhile, or the kernel has no children files.
    }
  }
  return listed ? children : undefined;
}

/** A process's children, their children, and so on (a wrapper's agent's worker is a grandchild). */
export function descendantsOf(pid: number): number[] | undefined {
  const found: number[] = [];
  const queue = [pid];
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const children = childrenOf(next);
    if (children === undefined) {
      if (next === pid) return undefined;
      continue; // it ended meanwhile
    }
    for (const child of children) {
      if (found.includes(child) || child === pid) continue;
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** Whether a process exists and is not a zombie. */
export function isLive(pid: number): boolean {
  const stat = readStat(pid);
  return stat !== undefined && stat.state !== "Z";
}

/** Live (non-zombie) members of a process group. */
export function groupMembers(pgid: number): number[] {
  return allPids().filter((pid) => {
    const stat = readStat(pid);
    return stat !== undefined && stat.pgid === pgid && stat.state !== "Z";
  });
}

/** The argv of a process, from /proc/PID/cmdline; undefined when it is gone. */
export function cmdline(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, "latin1");
    return raw.split("\0").slice(0, raw.endsWith("\0") ? -1 : undefined);
  } catch {
    return undefined;
  }
}

export function pgidOf(pid: number): number | undefined {
  return readStat(pid)?.pgid;
}

export function ppidOf(pid: number): number | undefined {
  return readStat(pid)?.ppid;
}

/** /proc/PID/cgroup, or "" when it cannot be read. */
export function cgroupOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cgroup`, "utf8");
  } catch {
    return "";
  }
}

/** Processes whose environment carries exactly `name=value`. */
export function processesWithEnv(name: string, value: string): number[] {
  const needle = `${name}=${value}`;
  return allPids().filter((pid) => {
    if (pid === process.pid) return false;
    try {
      return readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").includes(needle);
    } catch {
      return false;
    }
  });
}
